# Sourced first by a GPU plan script. Later device calls re-send the working
# tree, and bash reads a script as it runs, so a plan that runs for minutes
# must not run from the tree itself.
# run_from_snapshot NAME SCRIPT: unless already inside a snapshot, copies the
# tree (without runs/) to /tmp/NAME_tree and re-executes SCRIPT there, with
# R (the results directory) pointing back at runs/NAME of the original tree.
run_from_snapshot() {
  local name=$1 script=$2 root=$PWD tree=/tmp/$1_tree
  [ -n "${IN_SNAPSHOT:-}" ] && return 0
  rm -rf "$tree"; mkdir -p "$tree"
  tar cf - --exclude=./runs . | tar xf - -C "$tree"
  cd "$tree" && IN_SNAPSHOT=1 R=${R:-$root/runs/$name} exec bash "$script"
}
