"""EdgeTune host tooling: targets, build helpers, the qemu board runner and the device-log parser."""
