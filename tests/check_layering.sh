#!/bin/sh
# Fails when a layer includes what STYLE.md R1 forbids: libwebsockets
# outside server/ (and tools that are lws clients), LMDB outside store/,
# the NATS client outside cluster/.
root=${1:-.}
status=0
for d in protocol store hooks; do
	if grep -rnE 'libwebsockets\.h|lws_[a-z_]+\(' "$root/$d"; then
		echo "layering: $d/ must not use libwebsockets" >&2
		status=1
	fi
done
for d in protocol hooks; do
	if grep -rnE 'lmdb\.h|mdb_[a-z_]+\(' "$root/$d"; then
		echo "layering: $d/ must not use LMDB" >&2
		status=1
	fi
	if grep -rnE 'gettimeofday|clock_gettime|time\(NULL\)|getrandom|[^_]rand\(' "$root/$d"; then
		echo "layering: $d/ must stay pure (no clock, no randomness)" >&2
		status=1
	fi
done
if grep -rnE 'openssl/|HMAC\(|EVP_' "$root/hooks"; then
	echo "layering: hooks/ maps payloads; signatures are server/'s job" >&2
	status=1
fi
# The NATS client lives in cluster/ alone.
if grep -rlnE '#include *[<"](nats/)?nats\.h' --include='*.[ch]' "$root" |
	grep -vE "^$root/(cluster|tests)/"; then
	echo "layering: only cluster/ may include nats.h" >&2
	status=1
fi
exit $status
