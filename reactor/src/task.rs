//! Timed helpers (Twisted's `twisted.internet.task`): `LoopingCall`, `defer_later`.
