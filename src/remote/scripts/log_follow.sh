#!/bin/sh
# One poll of sluice's access-log follower (src/analysis/nginx_log.rs).
#
# Arguments: $1 the log file; $2 1 on the first poll (start at the end: history is not
# judged), else 0; $3 the inode last seen; $4 the byte offset reached in it; $5 the most
# bytes to send.
#
# Prints one line "INODE SIZE START NOW" (NOW is the host's clock, seconds since the epoch,
# for the follower to correct this host's clock offset), then the file's bytes from byte
# START, at most $5. A rotated (new inode) or truncated file starts over at 0; a file more
# than $5 bytes ahead of START is read from its last $5 bytes (the follower fell behind and
# says so). A missing file reads as inode 0, size 0.
set -u
file=$1 first=$2 inode=$3 offset=$4 limit=$5

info=$(stat -L -c '%i %s' -- "$file" 2>/dev/null) || info="0 0"
cur_inode=${info% *}
size=${info#* }

if [ "$first" = 1 ]; then
	start=$size
elif [ "$cur_inode" = "$inode" ] && [ "$size" -ge "$offset" ]; then
	start=$offset
else
	start=0
fi
if [ $((size - start)) -gt "$limit" ]; then
	start=$((size - limit))
fi

now=$(date +%s.%N 2>/dev/null) || now=-
echo "$cur_inode $size $start $now"
if [ "$start" -lt "$size" ]; then
	tail -c +$((start + 1)) -- "$file" 2>/dev/null | head -c "$limit"
fi
exit 0
