plugin use sandbox

sandbox start --id app --quiet | ignore                      # a session on the project in the current dir
sandbox exec app sh -c 'echo installed > /etc/tool' | ignore # a change outside the working dir
let snap = sandbox snapshot app base                         # record: name, copy, files, size, frozen...
mkdir ../tries
let kids = sandbox fork app 2 --into ../tries --id try       # table: try-1 and try-2, each with its own copy
sandbox exec try-1 sh -c 'echo fixed > notes.txt' | ignore
let changed = sandbox diff try-1                             # table: path, kind, entry, size
let merged = sandbox merge try-1 --into-session app          # record: changes, applied
let tool = (sandbox exec try-2 cat /etc/tool).stdout         # the container's changes came along
$kids | sandbox stop | ignore                                # their copies stay: the changes are yours
sandbox stop app | ignore
for dir in $kids.working_dir { sandbox copy remove $dir }    # then remove them (an overlay is unmounted)
sandbox snapshot remove base
sandbox snapshot remove $kids.0.snapshot                     # fork took a snapshot of its own

let report = {
  snap: ($snap | select name copy)                           # { name: base, copy: copy }
  kids: ($kids | get id)                                     # [try-1, try-2]
  changed: ($changed | select path kind)                     # [{ path: notes.txt, kind: modified }]
  merged: $merged.changes                                    # 1
  notes: (open notes.txt)                                    # "fixed\n": merged into app's working dir
  tool: $tool                                                # "installed\n"
}
