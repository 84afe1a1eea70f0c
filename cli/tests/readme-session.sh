#!/usr/bin/env bash
# The README's shell example, run by cli/tests/cli.rs against real podman with the
# busybox test image: `readme-session.sh <project dir> <session id>`.
set -euo pipefail
project=$1
SESSION=$2

id=$(sandbox start "$project" --id "$SESSION" -q)                 # prints the session id
sandbox exec "$id" -- sh -c 'echo hello from the sandbox'         # stdout, stderr, exit code pass through
sandbox exec "$id" --timeout 1s -- sleep 30 || echo "timed out: $?"   # 124, like timeout(1)
printf 'a\nb\n' | sandbox exec -i "$id" -- wc -l                  # -i feeds stdin to the command
sandbox run "$id" -- sh -c 'for i in 1 2 3; do echo "$i"; sleep 0.1; done'   # streamed as it comes
t=$(sandbox task spawn "$id" -- sh -c 'echo building; sleep 0.5; echo built')   # outlives this shell
sandbox task logs "$id" "$t" -f                                   # follows to the end
sandbox task wait "$id" "$t" && echo "task exited $?"
term=$(sandbox term open "$id")                                   # a shell on a PTY
sandbox term send "$id" "$term" "stty size
"
sandbox term read "$id" "$term" --until '24 80' > /dev/null && echo "the terminal is 24x80"
echo 'some notes' | sandbox file write "$id" notes.txt
sandbox file read "$id" notes.txt
sandbox list --json | grep -c "\"$id\""
sandbox stop "$id"
