#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
echo "exec-throughput.sh: being written" >&2
exit 77
