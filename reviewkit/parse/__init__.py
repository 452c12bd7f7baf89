"""Pure parsing: bytes in, model out.  No I/O happens below this package."""
