# The README's Nushell session (tests run it verbatim after `plugin add`).
plugin use sandbox

let s = sandbox start --id demo --quiet                    # record: the session and its start report
let hello = sandbox exec demo sh -c 'echo hello from the sandbox'
let count = "hello, nu!\n" | sandbox exec demo wc -c      # piped input is the command's stdin
let task = sandbox task spawn demo sh -c 'echo built | tee build.log'   # a background task
let build = sandbox task wait demo $task                   # record: state, exit_code, duration...
let log = sandbox task logs demo $task                     # its output, kept by the sandbox
let files = sandbox file ls demo                           # the same columns as `ls`
let sessions = sandbox list                                # table: id, state, uptime, ports, tasks, terminals...
print ($sessions | select id state uptime tasks)
let stopped = sandbox stop demo

let report = {
  hello: $hello.stdout                  # "hello from the sandbox\n"
  count: ($count.stdout | str trim)     # "11"
  build: ($build | select state exit_code)                 # { state: exited, exit_code: 0 }
  build_log: $log                       # "built\n"
  files: ($files | select name type size | update size { into int })   # [{ name: build.log, type: file, size: 6 }]
  listed: ($sessions | get id)          # [demo]
  stopped: ($stopped | get id)          # [demo]
}
