//! Helpers the suites share: spawning `retail-local` on a free port and speaking to it.
