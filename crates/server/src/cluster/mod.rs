//! Who is connected to this node, and waking their delivery streams when
//! something arrives for them.

pub mod hub;
