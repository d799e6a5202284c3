#!/bin/sh
# Writes a C source file that holds FILE's bytes as a NUL-terminated char array named NAME.
# usage: embed.sh FILE NAME > out.c
set -eu
file=$1
name=$2
printf '/* generated from %s by scripts/embed.sh: do not edit */\n' "$file"
printf '#include <stddef.h>\n'
printf 'const char %s[] = {\n' "$name"
od -An -v -tx1 "$file" | sed -e 's/ *\([0-9a-f][0-9a-f]\)/0x\1,/g' -e 's/^/ /'
printf ' 0x00\n};\n'
printf 'const size_t %s_len = sizeof(%s) - 1;\n' "$name" "$name"
