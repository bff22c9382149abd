//! The server's own web pages: `/deregister` (unbinding a number without
//! the app), the development carrier, and the web app's files.

pub mod carrier;
pub mod deregister;
pub mod html;
pub mod webapp;
