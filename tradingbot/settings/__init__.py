"""Settings modules: `local` (development default), `test`, `production`."""
