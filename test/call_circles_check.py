#!/usr/bin/env python3
"""No two source files call each other in a circle (docs/HACKING.md).

Reads the symbols of the object files given (nm): file A calls file B when
A leaves undefined a symbol B defines.  Prints each strongly connected
group of files with the calls that join them, and fails if there is one.
"""
import collections
import subprocess
import sys


def source_of(obj, root):
    rel = obj[len(root):].lstrip("/") if obj.startswith(root) else obj
    return rel[:-2] + ".c"


def main():
    root, objs = sys.argv[1], sys.argv[2:]
    defined, wanted = {}, collections.defaultdict(set)
    for obj in objs:
        src = source_of(obj, root)
        for line in subprocess.check_output(["nm", obj], text=True).splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1] in "TDBR":
                defined[parts[2]] = src
            elif len(parts) == 2 and parts[0] == "U":
                wanted[src].add(parts[1])
    calls = collections.defaultdict(lambda: collections.defaultdict(set))
    for src, symbols in wanted.items():
        for sym in symbols:
            if sym in defined and defined[sym] != src:
                calls[src][defined[sym]].add(sym)
    # Tarjan's strongly connected components, iteratively.
    index, low, on_stack, stack, groups = {}, {}, set(), [], []
    counter = 0
    for start in sorted(set(defined.values()) | set(calls)):
        if start in index:
            continue
        work = [(start, iter(sorted(calls[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(calls[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    for group in groups:
        print("not ok - these files call each other in a circle:")
        for a in group:
            for b in group:
                if b in calls[a]:
                    print("  %s -> %s: %s" % (a, b, ", ".join(sorted(calls[a][b]))))
    if groups:
        sys.exit(1)
    print("ok - no circle among the calls of %d files" % len(objs))


main()
