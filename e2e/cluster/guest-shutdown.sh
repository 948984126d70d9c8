#!/bin/bash
# Run by busybox init when the guest stops: Ganeti's daemons down.
/usr/lib/ganeti/daemon-util stop-all >/dev/null 2>&1
cp /run/e2e/sshd.log /var/log/ganeti/ 2>/dev/null
sync
