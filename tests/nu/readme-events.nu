plugin use sandbox

mkdir src                                                    # a project with a src/ directory
sandbox start --id web --quiet | ignore                      # all of the working dir is watched once start returns
let wd = sandbox list | where id == web | get 0.working_dir
let server = sandbox task spawn web httpd -f -p 8080
let up = sandbox wait-port web 8080 --timeout 30sec          # the port's event, also if it listened already
sandbox exec web sh -c 'echo hi > src/a.txt && mv src/a.txt src/b.txt' | ignore
let moved = sandbox events web --follow --kind [file] | where action == renamed | first   # live, stops at the first
let src = sandbox events web --kind [file] --path $'($wd)/src'   # table: what the journal has below src/
let resume_at = ($src | last | get seq) + 1                  # `--from $resume_at` later misses nothing
let stats = sandbox stats web                                # record: cpu (duration), memory (filesize), pids...
sandbox task kill web $server
let exited = sandbox events web --follow --kind [process] | where action == exited | first
sandbox stop web | ignore

let report = {
  up: ($up | select action port command)                     # { action: listening, port: 8080, command: httpd }
  moved: [($moved.from | path relative-to $wd) ($moved.path | path relative-to $wd)]   # [src/a.txt, src/b.txt]
  src: ($src | where action != modified | each {|e| $'($e.action) ($e.path | path relative-to $wd)' })   # [created src/a.txt, renamed src/b.txt]
  resumable: ($resume_at > $moved.seq)                       # true
  pids: ($stats.pids > 0)                                    # true
  exited: ($exited | select process signal)                  # { process: task, signal: 15 }
}
