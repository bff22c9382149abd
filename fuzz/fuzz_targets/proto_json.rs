//! Every JSON body of the HTTP API (requests, which the server decodes from
//! anyone, and answers, which clients decode from a server they may not
//! trust) and both kinds of stream frame. The first byte picks the type;
//! the rest is the JSON.
//!
//! Besides "no panic": whatever decodes re-encodes, and the re-encoding
//! decodes to the same JSON (handles inside are normalised once and for
//! all, so a second pass changes nothing).
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tidings_proto::api::*;
use tidings_proto::stream::{ClientFrame, Envelope, ServerFrame};

fn round_trip<T: DeserializeOwned + Serialize>(json: &[u8]) {
    let Ok(value) = serde_json::from_slice::<T>(json) else {
        return;
    };
    let first = serde_json::to_vec(&value).expect("a decoded body encodes");
    let again: T = serde_json::from_slice(&first).expect("an encoded body decodes");
    let second = serde_json::to_vec(&again).expect("encodes again");
    assert_eq!(
        String::from_utf8_lossy(&first),
        String::from_utf8_lossy(&second),
        "{}",
        std::any::type_name::<T>()
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, json)) = data.split_first() else {
        return;
    };
    match pick % 32 {
        // Requests: decoded by the server from anyone.
        0 => round_trip::<CodeRequest>(json),
        1 => round_trip::<RegisterRequest>(json),
        2 => round_trip::<LoginRequest>(json),
        3 => round_trip::<AddHandleRequest>(json),
        4 => round_trip::<DirectoryRequest>(json),
        5 => round_trip::<SendRequest>(json),
        6 => round_trip::<FallbackRequest>(json),
        7 => round_trip::<CarrierSend>(json),
        8 => round_trip::<UploadKeys>(json),
        9 => round_trip::<DevicesRequest>(json),
        10 => round_trip::<BlobCreate>(json),
        11 => round_trip::<LinkCreate>(json),
        12 => round_trip::<ReportRequest>(json),
        13 => round_trip::<ClientFrame>(json),
        // Answers: decoded by clients.
        14 => round_trip::<CodeSent>(json),
        15 => round_trip::<DeviceCredentials>(json),
        16 => round_trip::<AccountInfo>(json),
        17 => round_trip::<Vec<DeviceInfo>>(json),
        18 => round_trip::<DirectoryResponse>(json),
        19 => round_trip::<SendAccepted>(json),
        20 => round_trip::<ErrorBody>(json),
        21 => round_trip::<Limits>(json),
        22 => round_trip::<KeyCount>(json),
        23 => round_trip::<ClaimResponse>(json),
        24 => round_trip::<IdentitiesResponse>(json),
        25 => round_trip::<BlobInfo>(json),
        26 => round_trip::<LinkInfo>(json),
        27 => round_trip::<CampaignList>(json),
        28 => round_trip::<ServerFrame>(json),
        29 => round_trip::<Envelope>(json),
        30 => round_trip::<PowChallenge>(json),
        _ => round_trip::<PowSolution>(json),
    }
});
