"""Helpers for the sipbin integration tests (standard library only).

Pieces:
  spawn()                   -- a peer process, killed when the test exits
                               (SIGTERM unwinds the test first)
  require()/skip()/Results  -- meson exit codes: 0 pass, 1 fail, 77 skip
                               (a skip becomes a failure when CI=true)
  free_port/free_rtp_range  -- ports on 127.0.0.1 / ::1
  Agent                     -- gst-launch running sipbin (or, with
                               SIPTEST_FAKE_AGENT=sipp-uas, a SIPp UAS stand-in)
  run_sipp                  -- one SIPp scenario from tests/sipp/ against the agent
  Capture                   -- tshark on lo, then RTP payloads per direction
  make_rtp_pcap             -- RTP pcap for SIPp's play_pcap_audio
  sip_request/send_sip      -- raw SIP over UDP for probes
  make_certificates         -- a throwaway CA and certificate for 127.0.0.1
  baresip_modules/write_baresip_config -- baresip with no audio device or console
"""

import atexit
import collections
import hashlib
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
SRC_ROOT = os.path.normpath(os.path.join(HERE, '..', '..', '..'))
SIPP_DIR = os.path.join(SRC_ROOT, 'tests', 'sipp')
BUILD_DIR = os.environ.get('GST_SIP_AGENT_BUILD_DIR') or os.path.join(SRC_ROOT, 'build')

EXIT_PASS, EXIT_FAIL, EXIT_SKIP = 0, 1, 77


def _exit_on_sigterm(signum, _frame):
    # Peers run in sessions of their own (a Ctrl-C meant for the test must not
    # hit them first), so they outlive a test that SIGTERM (meson's timeout,
    # `timeout`) kills outright. As an exception it unwinds the test's
    # with-blocks, which stop what they started.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    raise SystemExit('terminated by signal %d' % signum)


signal.signal(signal.SIGTERM, _exit_on_sigterm)

_spawned = []


def spawn(cmd, **kw):
    """subprocess.Popen in a session of its own; whatever still runs when the
    test exits (a peer started but not yet waited for) is killed then."""
    proc = subprocess.Popen(cmd, start_new_session=True, **kw)
    _spawned.append(proc)
    return proc


@atexit.register
def _kill_spawned():
    for proc in _spawned:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            proc.wait()

# codec name -> (static RTP payload type, depayloader, payloader)
CODECS = {
    'PCMU': (0, 'rtppcmudepay', 'rtppcmupay'),
    'PCMA': (8, 'rtppcmadepay', 'rtppcmapay'),
    'G722': (9, 'rtpg722depay', 'rtpg722pay'),
}


def log(*args):
    print(*args, flush=True)


# ---------------------------------------------------------------- network namespace

NETNS_ENV = 'SIPTEST_IN_NETNS'


def netns_id():
    return str(os.stat('/proc/self/ns/net').st_ino)


def enter_netns():
    """Re-exec the running test under `unshare -n`, or return when already inside
    (lo brought up). For replaying corpora whose messages name outside hosts:
    whatever the agent sends there fails with "network unreachable"."""
    if os.environ.get(NETNS_ENV) != '1':
        require('unshare')
        require('ip')
        require_root('unshare -n needs root')
        probe = subprocess.run(['unshare', '-n', 'true'], stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if probe.returncode != 0:
            skip('cannot create a network namespace: ' + probe.stdout.decode(errors='replace'))
        # remember where we came from: /proc/1/ns/net may be unreadable (VMs, LSMs)
        env = dict(os.environ, **{NETNS_ENV: '1', NETNS_ENV + '_PARENT': netns_id()})
        sys.stdout.flush()
        os.execvpe('unshare', ['unshare', '-n', '--', sys.executable,
                               os.path.abspath(sys.argv[0])] + sys.argv[1:], env)
    subprocess.run(['ip', 'link', 'set', 'lo', 'up'], check=True)
    ifaces = sorted(name for _, name in socket.if_nameindex())   # this netns (not /sys)
    if netns_id() == os.environ.get(NETNS_ENV + '_PARENT', netns_id()) or ifaces != ['lo']:
        log('FAIL: refusing to replay: not in a private network namespace (interfaces %s)' % ifaces)
        sys.exit(EXIT_FAIL)
    log('  in a private network namespace (interfaces: %s)' % ifaces)



def describe_fds(pid):
    """One line per open fd of `pid`; sockets with their protocol, local and
    remote address and TCP state from /proc/net (to tell RTP from SIP)."""
    sockets = {}
    for proto in ('udp', 'tcp', 'udp6', 'tcp6'):
        try:
            with open('/proc/%d/net/%s' % (pid, proto)) as f:
                next(f)
                for line in f:
                    cols = line.split()
                    sockets[cols[9]] = '%s %s -> %s state %s' % (proto, cols[1], cols[2], cols[3])
        except OSError:
            pass
    out = []
    for fd in sorted(os.listdir('/proc/%d/fd' % pid), key=int):
        try:
            target = os.readlink('/proc/%d/fd/%s' % (pid, fd))
        except OSError:
            continue
        m = re.match(r'socket:\[(\d+)\]', target)
        out.append('%s %s %s' % (fd, target, sockets.get(m.group(1), '') if m else ''))
    return out


# ---------------------------------------------------------------- corpora

def unpack_corpus(archive, into):
    """Unpack ../shared/corpora/<archive> (or $SIPTEST_CORPORA/<archive>) into
    the directory `into`; skips the test when the corpus is not there."""
    import tarfile
    path = os.path.join(os.environ.get('SIPTEST_CORPORA') or
                        os.path.join(SRC_ROOT, '..', 'shared', 'corpora'), archive)
    if not os.path.exists(path):
        skip('corpus not found: %s (set SIPTEST_CORPORA)' % path)
    with tarfile.open(path) as tar:
        if hasattr(tarfile, 'data_filter'):
            tar.extractall(into, filter='data')
        else:
            tar.extractall(into)


# ---------------------------------------------------------------- baresip

BARESIP_MODULES = ('g711.so', 'aufile.so', 'aubridge.so', 'account.so', 'menu.so')


def baresip_modules(*extra):
    """baresip's module directory holding BARESIP_MODULES and `extra`
    ('srtp.so'), or None."""
    for d in ('/usr/lib/baresip/modules', '/usr/local/lib/baresip/modules',
              '/usr/lib/x86_64-linux-gnu/baresip/modules'):
        if all(os.path.exists(os.path.join(d, m)) for m in BARESIP_MODULES + extra):
            return d
    return None


def write_baresip_config(directory, modules, sip_port, wav, rtp_range, max_calls=1,
                         cafile=None, extra_modules=(), jitter_buffer_delay='5-10'):
    """baresip's `config` in `directory`: no audio device (`wav` as the
    microphone, what it hears dropped), no console, listening on
    127.0.0.1:`sip_port`, RTP in `rtp_range` without RTCP-mux."""
    lines = ['poll_method\t\tepoll', 'sip_listen\t\t127.0.0.1:%d' % sip_port]
    if cafile:
        lines.append('sip_cafile\t\t' + cafile)
    lines += ['call_local_timeout\t30', 'call_max_calls\t\t%d' % max_calls,
              'audio_source\t\taufile,' + wav, 'audio_player\t\taubridge,nil',
              'audio_alert\t\taubridge,nil', 'ausrc_srate\t\t8000', 'auplay_srate\t\t8000',
              'ausrc_channels\t\t1', 'auplay_channels\t\t1',
              'rtp_ports\t\t%d-%d' % tuple(rtp_range), 'rtcp_mux\t\tno']
    if jitter_buffer_delay:
        lines.append('jitter_buffer_delay\t' + jitter_buffer_delay)
    lines += ['net_interface\t\t127.0.0.1', 'module_path\t\t' + modules]
    lines += ['module\t\t\t' + m for m in ('g711.so', 'aufile.so', 'aubridge.so') + tuple(extra_modules)]
    lines += ['module_tmp\t\taccount.so', 'module_app\t\tmenu.so']
    with open(os.path.join(directory, 'config'), 'w') as f:
        f.write('\n'.join(lines) + '\n')


# ---------------------------------------------------------------- skipping

def in_ci():
    return os.environ.get('CI', '').lower() in ('true', '1', 'yes')


def skip(reason):
    """Skip the whole test (77), but fail it in CI where the tools must exist."""
    if in_ci():
        log('FAIL (CI=true, cannot skip): ' + reason)
        sys.exit(EXIT_FAIL)
    log('SKIP: ' + reason)
    sys.exit(EXIT_SKIP)


def require(tool):
    path = shutil.which(tool)
    if not path:
        skip('required tool %r not found in PATH' % tool)
    return path


def require_root(why):
    if os.geteuid() != 0:
        skip('must run as root: ' + why)


def fake_agent():
    return os.environ.get('SIPTEST_FAKE_AGENT', '')


def require_elements(*elements):
    """Skip unless these elements are in the build (e.g. a plugin disabled)."""
    with tempfile.TemporaryDirectory() as tmp:
        for element in elements:
            r = subprocess.run(['gst-inspect-1.0', element], env=gst_env(os.path.join(tmp, 'reg.bin')),
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, timeout=60)
            if r.returncode != 0:
                skip('element %s not found with GST_PLUGIN_PATH=%s (not built?)' % (element, BUILD_DIR))


def require_agent():
    """Tools the agent needs: the sipbin plugin, or sipp for the fake."""
    if fake_agent() == 'sipp-uas':
        require('sipp')
        return
    if fake_agent():
        skip('unknown SIPTEST_FAKE_AGENT=%r (known: sipp-uas)' % fake_agent())
    require('gst-launch-1.0')
    require('gst-inspect-1.0')
    require_elements('sipbin', 'sipsrc', 'sipsink')


class Results:
    """Collects named checks; exit() turns them into the meson exit code."""

    def __init__(self, name):
        self.name = name
        self.failed = []
        self.passed = 0
        self.skipped = 0

    def check(self, ok, what, detail=''):
        if ok:
            self.passed += 1
            log('  ok    ' + what)
        else:
            self.failed.append(what)
            log('  FAIL  ' + what + (('\n' + indent(detail)) if detail else ''))
        return ok

    def note_skip(self, what):
        self.skipped += 1
        log('  skip  ' + what)

    def exit(self):
        log('%s: %d passed, %d failed, %d skipped' %
            (self.name, self.passed, len(self.failed), self.skipped))
        for f in self.failed:
            log('  failed: ' + f)
        sys.exit(EXIT_FAIL if self.failed else EXIT_PASS)


def indent(text, prefix='        | ', limit=200):
    if isinstance(text, bytes):
        text = text.decode('utf-8', 'replace')
    lines = text.rstrip('\n').splitlines()
    if len(lines) > limit:
        lines = lines[:limit // 2] + ['... (%d lines cut) ...' % (len(lines) - limit)] + lines[-limit // 2:]
    return '\n'.join(prefix + line for line in lines)


# ---------------------------------------------------------------- ports

def _bindable(kind, host, port):
    family = socket.AF_INET6 if ':' in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_DGRAM if kind == 'udp' else socket.SOCK_STREAM)
    try:
        if kind == 'tcp':
            # agents set SO_REUSEADDR too; TIME_WAIT leftovers must not count as busy
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_port(kind='udp', host='127.0.0.1'):
    """A port that is currently free for kind 'udp', 'tcp' or 'both'."""
    kinds = ('udp', 'tcp') if kind == 'both' else (kind,)
    family = socket.AF_INET6 if ':' in host else socket.AF_INET
    for _ in range(200):
        s = socket.socket(family, socket.SOCK_DGRAM if kinds[0] == 'udp' else socket.SOCK_STREAM)
        s.bind((host, 0))
        port = s.getsockname()[1]
        s.close()
        if all(_bindable(k, host, port) for k in kinds):
            return port
    raise RuntimeError('no free %s port on %s' % (kind, host))


def free_rtp_range(count=4, host='127.0.0.1', start=20000, end=60000):
    """(first, last): `count` consecutive free UDP ports, first one even.

    Randomised start so that parallel runs are unlikely to collide."""
    base = start + (int.from_bytes(os.urandom(2), 'big') % ((end - start) // 2)) * 2
    for i in range(0, end - start, 2):
        p = start + (base - start + i) % (end - start - count)
        p -= p % 2
        if all(_bindable('udp', host, q) for q in range(p, p + count)):
            return p, p + count - 1
    raise RuntimeError('no free RTP port range')


def host_uri(host):
    return '[%s]' % host if ':' in host else host


# ---------------------------------------------------------------- raw SIP

def sip_request(method, host, port, local_port, transport='UDP', local_host=None,
                call_id=None, body='', extra_headers=()):
    """A minimal, valid out-of-dialog SIP request as bytes."""
    lh = host_uri(local_host or host)
    hh = host_uri(host)
    call_id = call_id or uuid.uuid4().hex
    lines = [
        '%s sip:agent@%s:%d SIP/2.0' % (method, hh, port),
        'Via: SIP/2.0/%s %s:%d;branch=z9hG4bK%s;rport' % (transport, lh, local_port, uuid.uuid4().hex[:16]),
        'Max-Forwards: 70',
        'From: <sip:probe@%s:%d>;tag=%s' % (lh, local_port, uuid.uuid4().hex[:8]),
        'To: <sip:agent@%s:%d>' % (hh, port),
        'Call-ID: %s' % call_id,
        'CSeq: 1 %s' % method,
        'Contact: <sip:probe@%s:%d>' % (lh, local_port),
    ]
    lines += list(extra_headers)
    lines.append('Content-Length: %d' % len(body.encode()))
    return ('\r\n'.join(lines) + '\r\n\r\n' + body).encode()


def status_of(data):
    """Status code of a SIP response (bytes), or None."""
    m = re.match(rb'SIP/2\.0 (\d{3}) ', data)
    return int(m.group(1)) if m else None


def send_sip(host, port, method='OPTIONS', timeout=1.0):
    """Send one request over UDP; return the first final response (bytes) or None."""
    family = socket.AF_INET6 if ':' in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        s.settimeout(0.2)
        s.sendto(sip_request(method, host, port, s.getsockname()[1]), (host, port))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data, _ = s.recvfrom(65535)
            except socket.timeout:
                continue
            code = status_of(data)
            if code and code >= 200:
                return data
    return None


# ---------------------------------------------------------------- processes

class _Output:
    """Reads a subprocess pipe in a thread so the child never blocks on it."""

    def __init__(self, pipe):
        self.lines = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, args=(pipe,), daemon=True)
        self._thread.start()

    def _run(self, pipe):
        for raw in iter(pipe.readline, b''):
            with self._lock:
                self.lines.append(raw.decode('utf-8', 'replace').rstrip('\n'))
        pipe.close()

    def text(self):
        with self._lock:
            return '\n'.join(self.lines)

    def snapshot(self):
        with self._lock:
            return list(self.lines)

    def join(self, timeout=2):
        self._thread.join(timeout)


def stop_process(proc, sig=signal.SIGINT, grace=5.0):
    """SIGINT (or sig), then SIGKILL after `grace` seconds. Returns the exit code."""
    if proc.poll() is None:
        try:
            proc.send_signal(sig)
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        except ProcessLookupError:
            pass
    return proc.returncode


def gst_env(registry):
    env = dict(os.environ)
    env['GST_PLUGIN_PATH'] = BUILD_DIR
    env['GST_PLUGIN_PATH_1_0'] = BUILD_DIR
    env['GST_REGISTRY'] = registry
    env['GST_REGISTRY_1_0'] = registry
    env.setdefault('GST_DEBUG', '*:2,sip*:4')
    env['GST_DEBUG_NO_COLOR'] = '1'
    return env


# ---------------------------------------------------------------- agent

_GST_MSG = re.compile(r'Got message #\d+ from element "([^"]+)" \(element\): sip-call, (.*)$')
_GST_ANY_MSG = re.compile(r'Got message #\d+ from element "([^"]+)" \(element\): ([\w-]+), (.*)$')
_FIELD = re.compile(r'\s*([A-Za-z][\w-]*)=\((\w+)\)("(?:[^"\\]|\\.)*"|[^,;]*)\s*[,;]?')


def parse_structure_fields(text):
    """'a=(string)x, b=(int)3;' -> {'a': 'x', 'b': 3}"""
    out = {}
    for m in _FIELD.finditer(text):
        key, typ, val = m.groups()
        if val.startswith('"'):
            val = re.sub(r'\\(.)', r'\1', val[1:-1])
        if typ in ('int', 'uint', 'gint', 'guint', 'int64', 'uint64'):
            try:
                val = int(val)
            except ValueError:
                pass
        elif typ in ('boolean', 'gboolean'):
            val = val.lower() in ('true', '1', 'yes')
        out[key] = val
    return out


class Agent:
    """The system under test, as a subprocess. Use as a context manager.

    agent = Agent(codec='PCMU', ring_time=5000, props={'codecs': 'PCMU'})
    launch_args are extra gst-launch options (e.g. ['-e']: SIGINT then sends EOS).
    inner: the launch tokens inside sipbin (default: sipsrc ! depay ! pay ! sipsink).
    sipsrc_props: properties of the default inner's sipsrc, e.g. {'source-filter': 'latch'}.
    Attributes once started: host, port (SIP, UDP+TCP), rtp_min, rtp_max, pid.
    """

    def __init__(self, codec='PCMU', ring_time=None, props=None, host='127.0.0.1',
                 port=None, rtp_range=None, launch_args=(), inner=None, sipsrc_props=None):
        self.codec = codec
        self.inner = inner
        self.sipsrc_props = dict(sipsrc_props or {})
        self.launch_args = list(launch_args)
        self.ring_time = ring_time
        self.props = dict(props or {})
        self.host = host
        self.port = port
        self.rtp_range = rtp_range
        self.fake = fake_agent()
        self.proc = None
        self.tmp = None
        self.out = self.err = None
        self.dumped = False

    # -- lifecycle
    def __enter__(self):
        self.start()
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is not None and exc_type not in (SystemExit, KeyboardInterrupt):
                self.dump('exception: %s' % exc)
        finally:
            self.stop()
        return False

    def command(self):
        if self.fake == 'sipp-uas':
            return ['sipp', '-sf', os.path.join(SIPP_DIR, 'fake_agent_uas.xml'),
                    '-i', self.host, '-p', str(self.port), '-mp', str(self.rtp_min),
                    '-rtp_echo', '-nostdin', '-t', 'u1', '-m', '1000000', '-l', '1000',
                    '-trace_err', '-error_file', os.path.join(self.tmp, 'fake_errors.log')]
        _pt, depay, pay = CODECS[self.codec]
        props = {
            'local-uri': 'sip:agent@%s:%d' % (host_uri(self.host), self.port),
            'rtp-port-min': self.rtp_min,
            'rtp-port-max': self.rtp_max,
        }
        if self.ring_time is not None:
            props['ring-time'] = self.ring_time
        props.update(self.props)
        # One argv word per token, as a shell would split the unquoted line:
        # gst-launch-1.0 (1.22) escapes the spaces inside each argument, so the
        # whole description as a single argument is a syntax error.
        inner = self.inner or (['sipsrc'] + ['%s=%s' % kv for kv in self.sipsrc_props.items()] +
                               ['!', depay, '!', pay, '!', 'sipsink'])
        return (['gst-launch-1.0', '-m'] + self.launch_args + ['sipbin.('] +
                ['%s=%s' % kv for kv in props.items()] + list(inner) + [')'])

    def start(self):
        self.tmp = tempfile.mkdtemp(prefix='siptest-agent-')
        if self.port is None:
            self.port = free_port('both', self.host)
        self.rtp_min, self.rtp_max = self.rtp_range or free_rtp_range(4, self.host)
        cmd = self.command()
        log('  agent: ' + ' '.join(cmd))
        # own session: a stray Ctrl-C on the terminal must not kill it mid-test
        self.proc = spawn(cmd, cwd=self.tmp, env=gst_env(os.path.join(self.tmp, 'registry.bin')),
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE)
        self.pid = self.proc.pid
        self.out = _Output(self.proc.stdout)
        self.err = _Output(self.proc.stderr)
        try:
            self.wait_ready()
        except Exception:
            self.stop()
            raise

    def wait_ready(self, timeout=10.0):
        """Poll with OPTIONS over UDP until a 200 comes back."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.dump('agent exited with %s before it was ready' % self.proc.returncode)
                raise RuntimeError('agent exited early (rc=%s)' % self.proc.returncode)
            resp = send_sip(self.host, self.port, 'OPTIONS', timeout=0.3)
            if resp is not None and status_of(resp) == 200:
                return
            time.sleep(0.1)
        self.dump('agent not ready after %.0f s (no 200 to OPTIONS)' % timeout)
        raise RuntimeError('agent did not answer OPTIONS within %.0f s' % timeout)

    def interrupt(self):
        """SIGINT without waiting (gst-launch -e turns it into EOS)."""
        if self.alive():
            self.proc.send_signal(signal.SIGINT)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.proc is None:
            return None
        rc = stop_process(self.proc)
        self.out.join()
        self.err.join()
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None
        return rc

    # -- observation
    def messages(self):
        """sip-call bus messages so far, as dicts (with 'element' added)."""
        if self.out is None:
            return []
        msgs = []
        for line in self.out.snapshot():
            m = _GST_MSG.search(line)
            if m:
                d = parse_structure_fields(m.group(2))
                d['element'] = m.group(1)
                msgs.append(d)
        return msgs

    def element_messages(self, name):
        """Element messages with structure `name` so far, as dicts (with
        'element' added), e.g. name='transcript'."""
        if self.out is None:
            return []
        msgs = []
        for line in self.out.snapshot():
            m = _GST_ANY_MSG.search(line)
            if m and m.group(2) == name:
                d = parse_structure_fields(m.group(3))
                d['element'] = m.group(1)
                msgs.append(d)
        return msgs

    def states(self):
        return [m.get('state') for m in self.messages()]

    def wait_for(self, pred, timeout=5.0):
        """Wait for a bus message matching pred (dict -> bool); returns it or None."""
        deadline = time.monotonic() + timeout
        while True:
            for m in self.messages():
                if pred(m):
                    return m
            if time.monotonic() >= deadline or not self.alive():
                return None
            time.sleep(0.05)

    def wait_state(self, state, timeout=5.0, after=0):
        """Wait for the (after+1)-th message with state=state."""
        deadline = time.monotonic() + timeout
        while True:
            hits = [m for m in self.messages() if m.get('state') == state]
            if len(hits) > after:
                return hits[after]
            if time.monotonic() >= deadline or not self.alive():
                return None
            time.sleep(0.05)

    def count_state(self, state):
        return sum(1 for m in self.messages() if m.get('state') == state)

    def fd_count(self):
        return len(os.listdir('/proc/%d/fd' % self.pid))

    def thread_count(self):
        return len(os.listdir('/proc/%d/task' % self.pid))

    def output(self):
        return ('--- stdout ---\n%s\n--- stderr ---\n%s' %
                (self.out.text() if self.out else '', self.err.text() if self.err else ''))

    def dump(self, why=''):
        """Print the agent's output once (on failure)."""
        if self.dumped:
            return
        self.dumped = True
        log('  ---- agent output (%s) ----' % why)
        log(indent(self.output(), '  agent| ', limit=400))


# ---------------------------------------------------------------- SIPp

SippResult = collections.namedtuple('SippResult', 'rc stderr errors messages')
SippResult.__doc__ = """rc: sipp exit code (0 = all calls succeeded);
stderr: sipp's stdout+stderr; errors: -trace_err log; messages: -trace_msg log."""


class Sipp:
    """One SIPp run of tests/sipp/<scenario> against the agent, stdin closed.

    Sipp(...).start() ... .wait() -> SippResult, or run_sipp(...) for both.
    `calls`/`limit`/`rate` map to -m/-l/-r; keys/sets to -key/-set."""

    def __init__(self, scenario, agent_host, agent_port, calls=1, limit=1, rate=None,
                 keys=None, sets=None, transport='u1', timeout=30, local_host=None,
                 media_port=None, recv_timeout=10000, extra=(), service='agent'):
        local_host = local_host or agent_host
        self.timeout = timeout
        self.tmp = tempfile.mkdtemp(prefix='siptest-sipp-')
        self.port = free_port('tcp' if transport.startswith('t') else 'udp', local_host)
        # sipp binds both mp and mp+2 (audio, video) even when it only plays audio
        self.media_port = media_port or free_rtp_range(4, local_host)[0]
        path = scenario if os.path.isabs(scenario) else os.path.join(SIPP_DIR, scenario)
        self.cmd = ['sipp', '%s:%d' % (host_uri(agent_host), agent_port), '-sf', path,
                    '-m', str(calls), '-l', str(limit), '-i', local_host, '-p', str(self.port),
                    '-mp', str(self.media_port), '-t', transport, '-s', service, '-nostdin',
                    '-timeout', '%ds' % timeout, '-timeout_error',
                    '-recv_timeout', str(recv_timeout),
                    '-trace_err', '-error_file', os.path.join(self.tmp, 'errors.log'),
                    '-trace_msg', '-message_file', os.path.join(self.tmp, 'messages.log'),
                    '-trace_stat', '-stf', os.path.join(self.tmp, 'stat.csv')]
        if rate:
            self.cmd += ['-r', str(rate)]
        for k, v in (keys or {}).items():
            self.cmd += ['-key', k, str(v)]
        for k, v in (sets or {}).items():
            self.cmd += ['-set', k, str(v)]
        self.cmd += list(extra)
        self.proc = None

    def start(self):
        log('  sipp: ' + ' '.join(self.cmd))
        self.proc = spawn(self.cmd, cwd=self.tmp, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.out = _Output(self.proc.stdout)
        return self

    def wait(self):
        try:
            try:
                self.proc.wait(self.timeout + 30)   # sipp's own -timeout should come first
            except subprocess.TimeoutExpired:
                stop_process(self.proc)
            self.out.join()
            return SippResult(self.proc.returncode, self.out.text(),
                              _read(os.path.join(self.tmp, 'errors.log')),
                              _read(os.path.join(self.tmp, 'messages.log')))
        finally:
            stop_process(self.proc)
            shutil.rmtree(self.tmp, ignore_errors=True)


def run_sipp(scenario, agent_host, agent_port, **kw):
    """Run a scenario to completion; see Sipp for the arguments."""
    return Sipp(scenario, agent_host, agent_port, **kw).start().wait()


def _read(path):
    try:
        with open(path, encoding='utf-8', errors='replace') as f:
            return f.read()
    except OSError:
        return ''


def sipp_report(res):
    """Readable failure detail for a SippResult."""
    parts = ['sipp exit code %s' % res.rc]
    if res.errors.strip():
        parts.append('--- sipp error log ---\n' + res.errors)
    if res.messages.strip():
        parts.append('--- SIP messages seen by sipp ---\n' + res.messages)
    tail = '\n'.join(res.stderr.strip().splitlines()[-40:])
    parts.append('--- sipp output (tail) ---\n' + tail)
    return '\n'.join(parts)


def sipp_received(res):
    """SIP messages SIPp received (from -trace_msg), as text, in order."""
    return [m.replace('\r\n', '\n') for m in
            re.findall(r'message received \[\d+\] bytes :\s*\n\n(.*?)(?=\n-{20,} |\Z)',
                       res.messages, re.S)]


def find_response(res, code, method, cseq=None):
    """First received response with this status code and CSeq method (and CSeq
    number, when given), or None."""
    number = r'\d+' if cseq is None else '%d' % cseq
    for msg in sipp_received(res):
        if msg.startswith('SIP/2.0 %d ' % code) and re.search(
                r'^CSeq:\s*%s\s+%s\s*$' % (number, method), msg, re.M | re.I):
            return msg
    return None


def sdp_media(msg):
    """(connection address, audio port, [payload types], {pt: rtpmap}) of an SDP body."""
    body = msg.split('\n\n', 1)[1] if '\n\n' in msg else ''
    c = re.search(r'^c=IN IP[46] (\S+)', body, re.M)
    m = re.search(r'^m=audio (\d+) RTP/AVP ([\d ]+)', body, re.M)
    rtpmap = dict(re.findall(r'^a=rtpmap:(\d+) (\S+)', body, re.M))
    if not m:
        return None
    return (c.group(1) if c else None, int(m.group(1)), [int(x) for x in m.group(2).split()],
            {int(k): v for k, v in rtpmap.items()})


def sipp_statuses(res):
    """Status codes of the responses SIPp received, in order (from -trace_msg)."""
    return [c for c in (status_of(m.encode()) for m in sipp_received(res)) if c]


# ---------------------------------------------------------------- capture

def _port_sel(p):
    """int port or (first, last) range -> tshark/BPF spelling 'N' or 'N-M'."""
    return '%d-%d' % tuple(p) if isinstance(p, (tuple, list)) else '%d' % p


class Capture:
    """tshark on lo for the given UDP ports (ints or (first, last) ranges).
    Use as a context manager, or start()/stop() and cleanup()."""

    def __init__(self, ports, iface='lo'):
        self.ports = list(ports)
        self.iface = iface
        self.proc = None
        self.tmp = tempfile.mkdtemp(prefix='siptest-cap-')
        self.path = os.path.join(self.tmp, 'capture.pcap')

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def capture_filter(self):
        """The BPF filter tshark captures with; subclasses capture more."""
        return ' or '.join(('udp portrange %s' if isinstance(p, (tuple, list)) else 'udp port %s')
                           % _port_sel(p) for p in self.ports)

    def start(self, timeout=15.0):
        cmd = ['tshark', '-i', self.iface, '-f', self.capture_filter(), '-w', self.path, '-F',
               'pcap', '-q']
        self.proc = spawn(cmd, cwd=self.tmp, stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.err = _Output(self.proc.stderr)
        deadline = time.monotonic() + timeout
        while 'Capturing on' not in self.err.text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                stop_process(self.proc)
                raise RuntimeError('tshark did not start capturing:\n' + self.err.text())
            time.sleep(0.05)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            time.sleep(0.3)   # let the last packets reach the capture buffer
            stop_process(self.proc)
            self.err.join()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def rtp(self, port):
        """[(srcport, dstport, pt, payload bytes)] for UDP traffic on `port` (int or
        range), decoded as RTP."""
        return [(src, dst, pt, payload) for _t, src, dst, pt, _seq, payload in self.rtp_timed(port)]

    def fields(self, port, proto, display_filter, names, extra=()):
        """Rows of tshark `-T fields` (each a list of strings, one per name) for
        UDP traffic on `port` (int or range) decoded as `proto`."""
        r = subprocess.run(['tshark', '-r', self.path, '-d',
                            'udp.port==%s,%s' % (_port_sel(port), proto), '-Y', display_filter,
                            '-T', 'fields'] + list(extra) +
                           [a for n in names for a in ('-e', n)],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=120)
        if r.returncode != 0:
            raise RuntimeError('tshark -r failed: ' + r.stderr.decode(errors='replace'))
        return [f for f in (line.split('\t') for line in r.stdout.decode().splitlines())
                if len(f) == len(names)]

    def rtp_addressed(self, port):
        """[(src ip, dst ip, dst port, payload bytes)] for UDP traffic on `port`,
        decoded as RTP."""
        return [(f[0], f[1], int(f[2]), bytes.fromhex(f[3].replace(':', '')))
                for f in self.fields(port, 'rtp', 'rtp',
                                     ['ip.src', 'ip.dst', 'udp.dstport', 'rtp.payload'])
                if f[3]]

    def rtp_timed(self, port):
        """[(time, srcport, dstport, pt, seq, payload bytes)] for UDP traffic on
        `port`, decoded as RTP; time is the capture time in seconds."""
        pkts = []
        for f in self.fields(port, 'rtp', 'rtp', ['frame.time_epoch', 'udp.srcport',
                                                  'udp.dstport', 'rtp.p_type', 'rtp.seq',
                                                  'rtp.payload']):
            if not f[1]:
                continue
            payload = bytes.fromhex(f[5].replace(':', '')) if f[5] else b''
            pkts.append((float(f[0]), int(f[1]), int(f[2]), int(f[3]) if f[3] else None,
                         int(f[4]) if f[4] else None, payload))
        return pkts

    def rtcp_reports(self, port):
        """[(fraction lost /256, cumulative lost, jitter in timestamp units)]: the
        first report block of each RTCP packet sent to `port`, in order."""
        return [tuple(int(x) for x in f)
                for f in self.fields(port, 'rtcp', 'rtcp.ssrc.fraction && udp.dstport==%d' % port,
                                     ['rtcp.ssrc.fraction', 'rtcp.ssrc.cum_nr',
                                      'rtcp.ssrc.jitter'], extra=['-E', 'occurrence=f'])]

    def streams(self, media_port):
        """RTP seen from/to our media port: {'sent': [...], 'echoed': [...]},
        each a list of (srcport, dstport, pt, payload)."""
        out = {'sent': [], 'echoed': []}
        for pkt in self.rtp(media_port):
            if pkt[0] == media_port:
                out['sent'].append(pkt)
            elif pkt[1] == media_port:
                out['echoed'].append(pkt)
        return out


    def streams_between(self, a, b):
        """RTP between port ranges a and b: (a->b packets, b->a packets), each a
        list of (srcport, dstport, pt, payload). Decoded as RTP on range a."""
        inside = lambda port, r: r[0] <= port <= r[1]   # noqa: E731
        ab, ba = [], []
        for pkt in self.rtp(a):
            if inside(pkt[0], a) and inside(pkt[1], b):
                ab.append(pkt)
            elif inside(pkt[0], b) and inside(pkt[1], a):
                ba.append(pkt)
        return ab, ba


def compare_echo(sent, echoed, packet_size=160, max_missing=2):
    """Echoed bytes must be one contiguous piece of the sent bytes, missing at most
    `max_missing` packets' worth at the start and at the end. Returns (ok, text)."""
    if not sent:
        return False, 'nothing was sent'
    if not echoed:
        return False, 'nothing was echoed (%d bytes sent)' % len(sent)
    # locate the echo by its first packet's worth of bytes
    probe = echoed[:packet_size]
    at = sent.find(probe)
    if at < 0:
        return False, ('first echoed bytes %s... not found in the sent stream (%d bytes sent, %d echoed)'
                       % (probe[:16].hex(), len(sent), len(echoed)))
    n = min(len(echoed), len(sent) - at)
    for i in range(n):
        if sent[at + i] != echoed[i]:
            return False, ('echo diverges from the sent stream at echoed byte %d (sent offset %d): '
                           'sent %s, echoed %s' % (i, at + i, sent[at + i:at + i + 16].hex(),
                                                  echoed[i:i + 16].hex()))
    if len(echoed) > n:
        return False, 'echo has %d bytes more than was sent after offset %d' % (len(echoed) - n, at)
    head, tail = at, len(sent) - at - len(echoed)
    limit = max_missing * packet_size
    text = ('%d bytes sent, %d echoed; missing %d at start, %d at end (limit %d each)'
            % (len(sent), len(echoed), head, tail, limit))
    return head <= limit and tail <= limit, text


# ---------------------------------------------------------------- pcap

def payload_bytes(n, seed=b'siptest'):
    """Deterministic pseudo-random bytes: every 160-byte window is unique, so a
    dropped, duplicated or reordered packet shows up in compare_echo."""
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(seed + i.to_bytes(4, 'big')).digest()
        i += 1
    return bytes(out[:n])


def _ip_checksum(hdr):
    s = sum(struct.unpack('!%dH' % (len(hdr) // 2), hdr))
    s = (s >> 16) + (s & 0xffff)
    s += s >> 16
    return (~s) & 0xffff


class LossyLine:
    """A bad line, the same on every run (seeded): each packet is lost with
    probability `loss`, else delayed with probability `delayed` by up to
    `max_delay_ms`, which reorders it behind later packets. Packet 0 always
    arrives on time, so that the far end sees where the stream starts."""

    def __init__(self, loss=0.05, delayed=0.5, max_delay_ms=60, seed=b'lossy-line'):
        self.loss, self.delayed, self.max_delay_ms = loss, delayed, max_delay_ms
        self.seed = seed
        self.lost = []

    def send_times(self, n_packets):
        """[(send time in µs, packet index)] in sending order; fills self.lost."""
        rng = random.Random(self.seed)
        sends, self.lost = [], []
        for i in range(n_packets):
            late = 0
            if i > 0 and rng.random() < self.loss:
                self.lost.append(i)
                continue
            if i > 0 and rng.random() < self.delayed:
                late = int(rng.uniform(0, self.max_delay_ms) * 1000)
            sends.append((i * 20000 + late, i))
        return sorted(sends)


def make_rtp_pcap(path, payload_type, n_packets=100, payload_size=160,
                  src_port=40000, dst_port=50000, ssrc=0x5195e57, seed=b'siptest',
                  payload=None, line=None):
    """Write a classic pcap (LINKTYPE_ETHERNET, IPv4/UDP 127.0.0.1) with RTP packets
    every 20 ms: seq +1, timestamp +160. SIPp's play_pcap_audio keeps only the UDP
    part and rewrites the ports, so addresses/ports here are placeholders (IPv6
    calls work too). payload: the bytes to send (e.g. encoded speech; cut into
    payload_size packets), else pseudo-random bytes. line: a LossyLine the
    packets go through (SIPp sends each at its pcap time). Returns the
    concatenated payload bytes, lost packets included. Packet i has sequence
    number 1000 + i."""
    if payload is None:
        payload = payload_bytes(n_packets * payload_size, seed)
    else:
        n_packets = len(payload) // payload_size
        payload = payload[:n_packets * payload_size]
    sends = line.send_times(n_packets) if line else [(i * 20000, i) for i in range(n_packets)]
    with open(path, 'wb') as f:
        # magic, v2.4, tz 0, sigfigs 0, snaplen, linktype 1 (Ethernet)
        f.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        for usec, i in sends:
            chunk = payload[i * payload_size:(i + 1) * payload_size]
            rtp = struct.pack('!BBHII', 0x80, (0x80 if i == 0 else 0) | payload_type,
                              (1000 + i) & 0xffff, (i * 160) & 0xffffffff, ssrc) + chunk
            udp = struct.pack('!HHHH', src_port, dst_port, 8 + len(rtp), 0) + rtp
            ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), i & 0xffff, 0, 64, 17, 0,
                             socket.inet_aton('127.0.0.1'), socket.inet_aton('127.0.0.1'))
            ip = ip[:10] + struct.pack('!H', _ip_checksum(ip)) + ip[12:]
            frame = b'\x00' * 12 + b'\x08\x00' + ip + udp
            f.write(struct.pack('<IIII', usec // 1000000, usec % 1000000, len(frame), len(frame)))
            f.write(frame)
    return payload


def write_wav(path, seconds=3.0, rate=8000, freq=440.0):
    """Mono S16LE sine wav (e.g. as baresip's aufile source)."""
    import math
    import wave
    n = int(seconds * rate)
    frames = b''.join(struct.pack('<h', int(12000 * math.sin(2 * math.pi * freq * i / rate)))
                      for i in range(n))
    with wave.open(path, 'wb') as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames)


# ---------------------------------------------------------------- TLS

def _openssl(*args, cwd):
    subprocess.run(['openssl'] + list(args), cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def make_certificates(tmp):
    """A CA and a server certificate for IP 127.0.0.1, in sofia-sip's layout:
    tls/agent.pem (key + certificate), tls/cafile.pem (the CA).
    Returns (tls dir, CA file)."""
    _openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key',
            '-out', 'ca.pem', '-days', '1', '-subj', '/CN=gst-sip-agent test CA', cwd=tmp)
    _openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'agent.key', '-out',
            'agent.csr', '-subj', '/CN=127.0.0.1', cwd=tmp)
    with open(os.path.join(tmp, 'ext.cnf'), 'w') as f:
        f.write('subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n'
                'extendedKeyUsage=serverAuth,clientAuth\n')
    _openssl('x509', '-req', '-in', 'agent.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key',
            '-CAcreateserial', '-out', 'agent.crt', '-days', '1', '-extfile', 'ext.cnf',
            cwd=tmp)
    tls = os.path.join(tmp, 'tls')
    os.mkdir(tls, 0o700)
    with open(os.path.join(tls, 'agent.pem'), 'w') as out:
        for name in ('agent.key', 'agent.crt'):
            with open(os.path.join(tmp, name)) as f:
                out.write(f.read())
    shutil.copy(os.path.join(tmp, 'ca.pem'), os.path.join(tls, 'cafile.pem'))
    return tls, os.path.join(tmp, 'ca.pem')
