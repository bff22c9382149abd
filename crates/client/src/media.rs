//! What the sender learns about a file before sending it: a small JPEG
//! thumbnail of photos (travels inside the message, so the conversation
//! shows a preview before any download), image dimensions, and the duration
//! of MP4/MOV videos read from their `mvhd` box (no codec needed).

use std::io::{Read, Seek, SeekFrom};

use crate::files::ReadSeek;

use base64::Engine;

/// Longest side of a thumbnail, in pixels.
pub const THUMBNAIL_SIDE: u32 = 160;
/// Largest image decoded for a thumbnail, in bytes; bigger ones get none.
pub const MAX_THUMBNAIL_SOURCE_BYTES: u64 = 50 * 1024 * 1024;
/// Most MP4 boxes walked while looking for the duration.
pub const MAX_MP4_BOXES: usize = 1000;

/// Facts about a file to put in its attachment pointer.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MediaInfo {
    /// Base64 JPEG thumbnail.
    pub thumbnail: Option<String>,
    /// Width in pixels.
    pub width: Option<u32>,
    /// Height in pixels.
    pub height: Option<u32>,
    /// Duration in milliseconds.
    pub duration_ms: Option<u64>,
}

/// Inspects a file of the given content type, read from its start; never
/// fails (a file that cannot be read as media is just sent without a
/// preview).
pub fn inspect(file: &mut dyn ReadSeek, content_type: &str, size: u64) -> MediaInfo {
    if content_type.starts_with("image/") && size <= MAX_THUMBNAIL_SOURCE_BYTES {
        return image_info(file).unwrap_or_default();
    }
    if content_type == "video/mp4" || content_type == "video/quicktime" {
        return MediaInfo {
            duration_ms: mp4_duration(&mut &mut *file),
            ..MediaInfo::default()
        };
    }
    MediaInfo::default()
}

fn image_info(file: &mut dyn ReadSeek) -> Option<MediaInfo> {
    let img = image::ImageReader::new(std::io::BufReader::new(file))
        .with_guessed_format()
        .ok()?
        .decode()
        .ok()?;
    let (width, height) = (img.width(), img.height());
    let thumb = img.thumbnail(THUMBNAIL_SIDE, THUMBNAIL_SIDE).to_rgb8();
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 70)
        .encode_image(&thumb)
        .ok()?;
    Some(MediaInfo {
        thumbnail: Some(base64::engine::general_purpose::STANDARD.encode(jpeg)),
        width: Some(width),
        height: Some(height),
        duration_ms: None,
    })
}

fn read_u32(f: &mut impl Read) -> Option<u32> {
    let mut b = [0u8; 4];
    f.read_exact(&mut b).ok()?;
    Some(u32::from_be_bytes(b))
}

fn read_u64(f: &mut impl Read) -> Option<u64> {
    let mut b = [0u8; 8];
    f.read_exact(&mut b).ok()?;
    Some(u64::from_be_bytes(b))
}

/// The duration of an MP4/MOV file, from `moov/mvhd`.
pub fn mp4_duration(f: &mut (impl Read + Seek)) -> Option<u64> {
    let end = f.seek(SeekFrom::End(0)).ok()?;
    find_box(f, 0, end, b"moov", 0).and_then(|(start, len)| {
        let (mvhd, _) = find_box(f, start, start + len, b"mvhd", 0)?;
        f.seek(SeekFrom::Start(mvhd)).ok()?;
        let version = read_u32(f)? >> 24;
        let (timescale, duration) = if version == 1 {
            read_u64(f)?;
            read_u64(f)?;
            (u64::from(read_u32(f)?), read_u64(f)?)
        } else {
            read_u32(f)?;
            read_u32(f)?;
            (u64::from(read_u32(f)?), u64::from(read_u32(f)?))
        };
        (timescale > 0).then(|| duration.saturating_mul(1000) / timescale)
    })
}

/// Finds a box of type `kind` among the boxes in `[from, to)`; returns the
/// offset and length of its contents.
fn find_box(
    f: &mut (impl Read + Seek),
    from: u64,
    to: u64,
    kind: &[u8; 4],
    depth: usize,
) -> Option<(u64, u64)> {
    let mut at = from;
    for _ in 0..MAX_MP4_BOXES {
        if at + 8 > to || depth > 4 {
            return None;
        }
        f.seek(SeekFrom::Start(at)).ok()?;
        let mut size = u64::from(read_u32(f)?);
        let mut name = [0u8; 4];
        f.read_exact(&mut name).ok()?;
        let mut header = 8;
        if size == 1 {
            size = read_u64(f)?;
            header = 16;
        } else if size == 0 {
            size = to - at;
        }
        if size < header || at + size > to {
            return None;
        }
        if &name == kind {
            return Some((at + header, size - header));
        }
        at += size;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mp4(timescale: u32, duration: u32) -> Vec<u8> {
        let mut mvhd = vec![0u8; 4]; // version 0, flags
        mvhd.extend_from_slice(&0u32.to_be_bytes());
        mvhd.extend_from_slice(&0u32.to_be_bytes());
        mvhd.extend_from_slice(&timescale.to_be_bytes());
        mvhd.extend_from_slice(&duration.to_be_bytes());
        mvhd.extend_from_slice(&[0u8; 80]);
        let boxed = |name: &[u8; 4], body: &[u8]| {
            let mut b = ((body.len() + 8) as u32).to_be_bytes().to_vec();
            b.extend_from_slice(name);
            b.extend_from_slice(body);
            b
        };
        let mut file = boxed(b"ftyp", b"isom\0\0\0\0isommp41");
        file.extend(boxed(b"mdat", &[0u8; 100]));
        file.extend(boxed(b"moov", &boxed(b"mvhd", &mvhd)));
        file
    }

    #[test]
    fn reads_mp4_duration_and_survives_garbage() {
        let file = mp4(1000, 12_345);
        assert_eq!(mp4_duration(&mut std::io::Cursor::new(file)), Some(12_345));
        let file = mp4(90_000, 900_000);
        assert_eq!(mp4_duration(&mut std::io::Cursor::new(file)), Some(10_000));
        assert_eq!(
            mp4_duration(&mut std::io::Cursor::new(vec![0xff; 64])),
            None
        );
        assert_eq!(mp4_duration(&mut std::io::Cursor::new(Vec::new())), None);
    }

    #[test]
    fn photos_get_a_small_thumbnail() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("p.png");
        image::RgbImage::from_fn(800, 600, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
        })
        .save(&path)
        .expect("writes a png");
        let open = || std::fs::File::open(&path).expect("open");
        let info = inspect(&mut open(), "image/png", 1000);
        assert_eq!((info.width, info.height), (Some(800), Some(600)));
        let thumb = base64::engine::general_purpose::STANDARD
            .decode(info.thumbnail.expect("a thumbnail"))
            .expect("base64");
        let t = image::load_from_memory(&thumb).expect("a jpeg");
        assert!(t.width() <= THUMBNAIL_SIDE && t.height() <= THUMBNAIL_SIDE);
        assert_eq!(
            inspect(&mut open(), "application/pdf", 1000),
            MediaInfo::default()
        );
    }
}
