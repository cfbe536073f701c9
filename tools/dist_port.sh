#!/usr/bin/env bash
# Sourced by dist_train.sh and dist_test.sh: sets PORT, the rendezvous port.
# On one machine a free port unless PORT is set, so that two runs there do
# not collide; several machines must agree on it (default 29500).
if [ -z "${PORT:-}" ]; then
    if [ "${NNODES:-1}" = 1 ]; then
        PORT=$("$PYTHON" -c 'import socket; s = socket.socket(); \
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    else
        PORT=29500
    fi
fi
