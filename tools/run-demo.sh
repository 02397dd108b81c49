#!/bin/sh
# make run: start konvert in the foreground on its built-in defaults
# (loopback only, unprivileged ports, state in ./var) with a demo account.
set -e
BIN=./build/konvert
ADDR=demo@localhost
PASS=demo-password
if [ "$(id -u)" = 0 ] && ! id konvert >/dev/null 2>&1; then
	echo "make run: creating the unprivileged system user 'konvert' the server runs as"
	useradd --system --home-dir /nonexistent --no-create-home \
		--shell /usr/sbin/nologin konvert
fi
if ! $BIN user list 2>/dev/null | grep -qx "$ADDR"; then
	echo "$PASS" | $BIN user add "$ADDR" --password-stdin
fi
cat <<EOT

konvert demo: account $ADDR, password $PASS, mail under ./var

  send a message (SMTP on 127.0.0.1:2525):
    swaks --server 127.0.0.1:2525 --from you@example.org --to $ADDR --body 'Hello from swaks'
    printf 'Subject: hi\r\n\r\nHello from curl\r\n' | curl -sS smtp://127.0.0.1:2525 --mail-from you@example.org --mail-rcpt $ADDR -T -

  fetch it over POP3 (127.0.0.1:1100, POP3S on 9950, POP2 on 1090):
    curl -s pop3://127.0.0.1:1100/ --user $ADDR:$PASS        # list
    curl -s pop3://127.0.0.1:1100/1 --user $ADDR:$PASS       # message 1

  or look at the Maildir:
    ls var/mail/localhost/demo/new/

  send as a user (submission 5870 with STARTTLS + AUTH; self-signed cert: -k):
    printf 'Subject: from a file\n\nwritten with an editor\n' > message.txt
    curl -k --ssl-reqd smtp://127.0.0.1:5870 --user $ADDR:$PASS --mail-from $ADDR --mail-rcpt $ADDR -T message.txt

Stop with Ctrl-C.

EOT
exec $BIN serve
