"""Local emulators of the APIs the product talks to, for `make demo` and the tests."""
