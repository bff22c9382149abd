//! Who is connected, and waking their delivery streams when something
//! arrives for them: on this node ([`hub`]), and across nodes through Redis
//! ([`bus`]) when `redis_url` is set.

pub mod bus;
pub mod hub;
pub mod limits;
