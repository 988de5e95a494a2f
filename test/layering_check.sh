#!/bin/bash
# Which folder may include which (docs/architecture.md, "Folders"): a layer
# includes only itself and the layers below it; a wing of uvm/ includes
# other wings, never the core (uvm/*.h) above it; the wings' graph has no
# circle; the guest's programs share only the bridge's wire vocabulary and
# the sysctl rule with the host.  Fails naming every include that breaks a rule.
set -euo pipefail
cd "$(dirname "$0")/.."

# folder of a repository file, as the rules name it
folder_of() {
	case "$1" in
	proto/*) echo proto ;;
	policy/*) echo policy ;;
	uvm/guest/*) echo guest ;;
	uvm/*/*) echo "wing:$(echo "$1" | cut -d/ -f2)" ;;
	uvm/*) echo core ;;
	daemon/*) echo daemon ;;
	cmd/*) echo cmd ;;
	*) echo other ;;
	esac
}

# may FROM include TO (both folders as folder_of prints them)?
allowed() {
	local from=$1 to=$2 header=$3
	[ "$from" = "$to" ] && return 0
	case "$from:$to" in
	*:proto) return 0 ;;
	policy:*) return 1 ;;
	guest:wing:bridge) [ "$header" = uvm/bridge/bridge_protocol.h ] ;;
	guest:policy) [ "$header" = policy/sysctl_policy.h ] ;;
	guest:*) return 1 ;;
	wing:*:wing:* | wing:*:policy) return 0 ;;
	wing:*) return 1 ;;
	core:wing:* | core:policy) return 0 ;;
	core:*) return 1 ;;
	daemon:core | daemon:wing:* | daemon:policy) return 0 ;;
	daemon:*) return 1 ;;
	cmd:*) return 0 ;;
	*) return 1 ;;
	esac
}

bad=0
edges=$(mktemp)
trap 'rm -f "$edges"' EXIT
while IFS= read -r file; do
	from=$(folder_of "$file")
	while IFS= read -r header; do
		# a bare name is a file of the same folder
		[[ $header == */* ]] || header="$(dirname "$file")/$header"
		[ -f "$header" ] || continue # generated protobuf headers
		to=$(folder_of "$header")
		if ! allowed "$from" "$to" "$header"; then
			echo "not ok - $file includes $header ($from may not include $to)"
			bad=$((bad + 1))
		fi
		if [[ $from == wing:* && $to == wing:* && $from != "$to" ]]; then
			echo "${from#wing:} ${to#wing:}" >>"$edges"
		fi
	done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$file")
done < <(git ls-files 'proto/*.[ch]' 'policy/*.[ch]' 'uvm/*.[ch]' 'daemon/*.[ch]' 'cmd/*.[ch]')

# tsort reports a cycle on stderr
if ! sort -u "$edges" | tsort >/dev/null 2>"$edges.err" || [ -s "$edges.err" ]; then
	echo "not ok - the wings of uvm/ include each other in a circle:"
	sed 's/^/  /' "$edges.err"
	bad=$((bad + 1))
fi
rm -f "$edges.err"
if [ "$bad" -gt 0 ]; then
	echo "layering: $bad rule(s) broken"
	exit 1
fi
echo "ok - layering: every include goes down or sideways; wings: $(sort -u "$edges" | tsort | tr '\n' ' ')"
