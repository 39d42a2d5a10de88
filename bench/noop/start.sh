#!/bin/sh
# The benchmark's training process: prints the moment it started (ns since the epoch) and exits,
# so bench/startup.ts can measure submission -> process started.
echo "started $(date +%s%N)"
