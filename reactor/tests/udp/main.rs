//! UDP on the mio reactor over real loopback sockets (127.0.0.1 and ::1,
//! port 0, every wait bounded): Twisted's `twisted/test/test_udp.py` and
//! `twisted/internet/test/test_udp.py`, plus fairness and many-datagram
//! echo.

mod fairness;
mod internet;
mod multicast;
mod udp_tests;
mod util;
