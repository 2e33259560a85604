"""The gst-sip-agent server as a test peer: start it on a config, read what
it prints, read its call records, place refused calls with raw SIP.

Used by test_server.py and examples/server_demo.py. Python standard library
only."""

import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid

import siptest as st

SERVER = os.path.join(st.BUILD_DIR, 'tools', 'gst-sip-agent')


def require_server():
    if not os.access(SERVER, os.X_OK):
        st.skip('%s is not built' % SERVER)


class Server:
    """gst-sip-agent --config <text written to a file> on free ports.

    `config` is the file's text with {port}, {records}, {rtp_min},
    {rtp_max} and {dir} (where the file is) filled in. With `config_path`
    instead, that file is used as it is, on a free port (--listen) with
    records in a temporary directory (--records)."""

    def __init__(self, config=None, args=(), files=None, config_path=None):
        self.tmp = tempfile.mkdtemp(prefix='servertest-')
        self.dir = self.tmp
        self.port = st.free_port('both')
        self.rtp_min, self.rtp_max = st.free_rtp_range(40)
        self.records = os.path.join(self.tmp, 'records')
        for name, text in (files or {}).items():
            with open(os.path.join(self.tmp, name), 'w') as f:
                f.write(text)
        self.args = list(args)
        if config_path:
            self.config = os.path.abspath(config_path)
            self.args += ['--listen', '127.0.0.1:%d' % self.port, '--records', self.records]
        else:
            self.config = os.path.join(self.tmp, 'server.conf')
            with open(self.config, 'w') as f:
                f.write(config.format(port=self.port, records=self.records, rtp_min=self.rtp_min,
                                      rtp_max=self.rtp_max, dir=self.tmp))
        self.host = '127.0.0.1'
        self.proc = None

    def command(self):
        return [SERVER, '--config', self.config, '--print-conversation'] + self.args

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and exc_type not in (SystemExit, KeyboardInterrupt):
            self.dump('exception: %s' % exc)
        self.cleanup()
        return False

    def start(self, timeout=20.0):
        cmd = self.command()
        st.log('  server: ' + ' '.join(cmd))
        self.proc = st.spawn(cmd, cwd=self.tmp, env=st.gst_env(os.path.join(self.tmp, 'registry.bin')),
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        self.pid = self.proc.pid
        self.out = st._Output(self.proc.stdout)
        self.err = st._Output(self.proc.stderr)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if 'listening on' in self.out.text():
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.dump('did not start')
        self.kill()
        raise RuntimeError('gst-sip-agent did not start')

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def cleanup(self):
        self.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def stop(self, timeout=30):
        """SIGTERM, wait; returns the exit code (None: still running)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def output(self):
        return self.out.text()

    def wait_output(self, pattern, timeout=30.0, start=0):
        """The first match of pattern in what the server printed, from
        character `start` on (len(output()) earlier: only what is new)."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = rx.search(self.out.text(), start)
            if m:
                return m
            time.sleep(0.1)
        return None

    def conversation(self):
        """[(office, role, text)] as printed by --print-conversation"""
        out = []
        for line in self.out.snapshot():
            m = re.match(r'\d\d:\d\d:\d\d   \[([^\]]*)\] (caller|agent)\s+(.*)$', line)
            if m:
                out.append(m.groups())
        return out

    def record_files(self):
        return sorted(glob.glob(os.path.join(self.records, '*.json')))

    def records_now(self):
        out = []
        for path in self.record_files():
            with open(path) as f:
                out.append(json.load(f))
        return out

    def record_of(self, call_id):
        for r in self.records_now():
            if r.get('call_id') == call_id:
                return r
        return None

    def wait_record(self, pred, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for r in self.records_now():
                if pred(r):
                    return r
            time.sleep(0.2)
        return None

    def dump(self, why=''):
        st.log('---- gst-sip-agent %s' % why)
        st.log(st.indent(self.out.text() if self.proc else ''))
        st.log(st.indent(self.err.text() if self.proc else '', limit=80))


def invite(host, port, user, timeout=10.0, call_id=None, to_user=None, local_host=None):
    """INVITE sip:user@host:port (To: to_user, default user) over UDP with a
    PCMU offer, from local_host (default host). Returns (final status, the
    final response's text). A non-2xx answer is ACKed; a 2xx is ACKed and
    the call hung up at once (BYE)."""
    call_id = call_id or uuid.uuid4().hex
    to_user = to_user or user
    target = host
    host = local_host or host
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        s.settimeout(0.2)
        lp = s.getsockname()[1]
        body = ('v=0\r\no=probe 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\n'
                'm=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n' % (host, host, lp + 2))
        branch = 'z9hG4bK' + uuid.uuid4().hex[:16]
        tag = uuid.uuid4().hex[:8]
        via = 'Via: SIP/2.0/UDP %s:%d;branch=%s;rport' % (host, lp, branch)
        frm = 'From: <sip:probe@%s:%d>;tag=%s' % (host, lp, tag)

        def request(method, uri, cseq, to, via=via, extra=(), body=''):
            lines = ['%s %s SIP/2.0' % (method, uri), via, 'Max-Forwards: 70', frm,
                     'To: %s' % to, 'Call-ID: %s' % call_id, 'CSeq: %s' % cseq,
                     'Contact: <sip:probe@%s:%d>' % (host, lp)] + list(extra)
            lines += ['Content-Length: %d' % len(body), '', body]
            s.sendto('\r\n'.join(lines).encode(), (target, port))

        uri = 'sip:%s@%s:%d' % (user, target, port)
        request('INVITE', uri, '1 INVITE', '<sip:%s@%s:%d>' % (to_user, target, port),
                extra=['Content-Type: application/sdp'], body=body)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data, _ = s.recvfrom(65535)
            except socket.timeout:
                continue
            code = st.status_of(data)
            if code is None or code < 200:
                continue
            text = data.decode('utf-8', 'replace')
            to = header(text, 'To')
            if code >= 300:
                request('ACK', uri, '1 ACK', to)
            else:
                contact = re.search(r'<([^>]+)>', header(text, 'Contact') or '<%s>' % uri).group(1)
                new_via = 'Via: SIP/2.0/UDP %s:%d;branch=z9hG4bK%s;rport' % (
                    host, lp, uuid.uuid4().hex[:16])
                request('ACK', contact, '1 ACK', to, via=new_via)
                request('BYE', contact, '2 BYE', to, via='Via: SIP/2.0/UDP %s:%d;branch=z9hG4bK%s;rport'
                        % (host, lp, uuid.uuid4().hex[:16]))
            return code, text
    return None, ''


def header(text, name):
    m = re.search(r'^%s:\s*(.*)$' % re.escape(name), text, re.M | re.I)
    return m.group(1).strip() if m else None
