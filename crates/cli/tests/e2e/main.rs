//! End-to-end tests: the real `updraft` binary, real instances, loopback only.
