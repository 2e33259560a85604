#!/usr/bin/env python3
"""The gst-sip-agent server against SIPp callers and raw SIP.

- offices: two offices with their own scripts; two calls at once, one to
  each office's number, each hears its own office's greeting; with both up
  (max-calls = 2) a third call gets 503 with Retry-After, an unknown number
  404; every call, refused ones too, leaves a JSON record that matches what
  was said (the server's printed conversation and the agent's script).
- kill9: kill -9 mid-call leaves a readable record, marked incomplete, with
  what the caller had said.
- drain: SIGTERM with a call up: new calls get 503, the call goes on until
  drain-timeout, then gets our BYE, and the server exits 0.
- reload: SIGHUP makes new calls use the changed config.
- transfer: the agent's "transfer attorney" becomes a REFER to the office's
  transfer URI (tel: unchanged); success and a NOTIFY failure (486) end up
  in the record's actions.
- offices also records audio: WAV for one office, Ogg/Opus for the other,
  stereo with the caller on the left and the agent on the right.
- isolation: a pipeline error ends that call (our BYE, record "error") and
  not the call beside it.
- fulldisk: records on a full file system: the call goes on, the error is
  logged, and the record is written once there is space again.
- media: media-timeout = 2: a caller that never sends RTP gets our BYE
  and a record that says media-timeout; a silent caller on hold does not.
  session-expires = 300 is in our 200 (we refresh: SIPp knows no timers).
- config: config errors (and an office script's errors) exit 2 naming the
  file and line.
"""

import audioop  # noqa: deprecated in 3.11, still in Debian 12's python3
import datetime
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import siptest as st  # noqa: E402
import speechtest as sp  # noqa: E402
import servertest as sv  # noqa: E402

SCRIPT = """[script]
start = greeting
timeout = 20
[state greeting]
say = Thank you for calling the {office} office.
next = goto reason
[state reason]
say = Please tell me why you are calling.
slot = text
field = reason
filled = goto bye
[state bye]
say = Thank you. Goodbye.
next = hangup
"""

CONFIG = """[server]
listen = 127.0.0.1:{port}
records = {records}
max-calls = 2
drain-timeout = %(drain)d
retry-after = 42
rtp-port-min = {rtp_min}
rtp-port-max = {rtp_max}

[office north]
did = +19195550100
script = north.ini
record-audio = wav

[office south]
did = +19195550200, +19195550201
script = south.ini
record-audio = ogg
"""

SCRIPTS = {'north.ini': SCRIPT.replace('{office}', 'north'),
           'south.ini': SCRIPT.replace('{office}', 'south')}

CALLER = ['I was in a car accident yesterday']


def caller_pcap(tmp, turns=CALLER, first_wait=6.0, pause=7.0):
    pcm, _ = sp.caller_timeline(turns, rate=8000, first_wait=first_wait, pause=pause)
    path = os.path.join(tmp, 'caller-%d.pcap' % len(os.listdir(tmp)))
    st.make_rtp_pcap(path, 0, payload=sp.encode(pcm, 'PCMU'), payload_size=sp.PAYLOAD_SIZE)
    return path, len(pcm) / 16000.0


def sipp_call(server, did, pcap, seconds, scenario='uac_talk_wait_bye.xml'):
    return st.Sipp(scenario, server.host, server.port, service=did,
                   keys={'codec_pt': 0, 'codec_name': 'PCMU', 'pcap': pcap},
                   timeout=seconds + 60).start()



def test_offices(res, tmp):
    st.log('== two offices, two calls at once; 503 past max-calls; 404 for an unknown number')
    pcap, seconds = caller_pcap(tmp)
    with sv.Server(CONFIG % {'drain': 30}, files=SCRIPTS) as server:
        north = sipp_call(server, '+19195550100', pcap, seconds)
        south = sipp_call(server, '19195550201', pcap, seconds)   # no +: still the south office
        both_up = server.wait_output(r'call .* office south', 10) and \
            server.wait_output(r'call .* office north', 10)
        res.check(bool(both_up), 'both calls routed to their offices', server.output())
        code, text = sv.invite(server.host, server.port, '+19195550100')
        res.check(code == 503, 'a third call (max-calls = 2) gets 503', 'got %s' % code)
        res.check(sv.header(text, 'Retry-After') == '42', 'the 503 has Retry-After: 42',
                  text.split('\r\n\r\n')[0])
        code, _ = sv.invite(server.host, server.port, '+15555550199')
        res.check(code == 404, 'an unknown number gets 404 (no default office)', 'got %s' % code)
        results = [north.wait(), south.wait()]
        for name, r in zip(('north', 'south'), results):
            res.check(r.rc == 0, '%s call: the agent answered and hung up (sipp exit 0)' % name,
                      st.sipp_report(r))
        time.sleep(1)
        # a trunk that sends calls to its registration contact: the number is in To
        code, _ = sv.invite(server.host, server.port, 'agent', to_user='+19195550200')
        res.check(code == 200, 'a call to sip:agent@ with the number in To is answered',
                  'got %s' % code)
        to_routed = server.wait_record(lambda r: r.get('to') == '+19195550200' and
                                       r.get('complete'), timeout=10)
        res.check(to_routed is not None and to_routed['office'] == 'south',
                  'and routed by the To number (south)', repr(to_routed)[:300])
        rc = server.stop()
        res.check(rc == 0, 'SIGTERM with no calls: exit 0', 'exit %s' % rc)

        records = [r for r in server.records_now() if r is not to_routed and
                   r.get('call_id') != (to_routed or {}).get('call_id')]
        by_office = {r.get('office'): r for r in records if r.get('office')}
        refused = [r for r in records if r.get('sip_status') in (503, 404)]
        res.check(len(records) == 4, 'four records: two calls, two refused',
                  '%d records' % len(records))
        res.check(sorted((r['sip_status'], r['end_reason']) for r in refused) ==
                  [(404, 'unknown-number'), (503, 'max-calls')],
                  'the refused calls are recorded with status and reason',
                  repr([(r.get('sip_status'), r.get('end_reason')) for r in refused]))
        printed = server.conversation()
        for office in ('north', 'south'):
            r = by_office.get(office)
            if not res.check(r is not None, '%s: a record' % office, repr(records)):
                continue
            agent = ' '.join(t['text'] for t in r['turns'] if t['role'] == 'agent')
            caller = [t for t in r['turns'] if t['role'] == 'caller']
            res.check('calling the %s office' % office in agent,
                      '%s: the record has its own office\'s greeting' % office, agent)
            res.check(r['complete'] and r['end_reason'] == 'local-hangup' and r['answer'],
                      '%s: complete, answered, ended by our hangup' % office,
                      '%s %s' % (r['complete'], r['end_reason']))
            res.check(r['to'] == ('+19195550100' if office == 'north' else '19195550201'),
                      '%s: "to" is the dialled number' % office, r['to'])
            res.check(len(caller) == 1 and caller[0]['text'] and 0 < caller[0]['confidence'] <= 1
                      and caller[0]['start'] < caller[0]['end'],
                      '%s: one caller turn with text, confidence and times' % office, repr(caller))
            res.check(caller and r['intake'].get('reason') == caller[0]['text'],
                      '%s: the intake holds what the caller said' % office, repr(r['intake']))
            res.check([(a['type'], a['result']) for a in r['actions']] == [('hangup', 'done')],
                      '%s: the hangup action is recorded as done' % office, repr(r['actions']))
            starts = [t['start'] for t in r['turns']]
            res.check(starts == sorted(starts) and r['turns'][0]['role'] == 'agent',
                      '%s: turns in time order, the agent first' % office, repr(r['turns']))
            res.check(r['media'].get('packets_received', 0) > 100 and
                      r['media'].get('packets_sent', 0) > 100 and 'jitter_ms' in r['media'],
                      '%s: media stats (packets both ways, jitter)' % office, repr(r['media']))
            # SIPp sends no RTCP: ours went out, the far end's view is unknown
            res.check(r['media'].get('rtcp_sent', 0) >= 1 and
                      r['media'].get('remote_fraction_lost') == -1 and
                      r['media'].get('round_trip_ms') == -1,
                      '%s: RTCP figures (%s sent; none from SIPp)'
                      % (office, r['media'].get('rtcp_sent')), repr(r['media']))
            check_recording(res, office, r)
            said = [t for (o, role, t) in printed if o == office]
            for t in r['turns']:
                if t['role'] == 'caller':
                    res.check(t['text'] in said, '%s: printed caller line = record' % office,
                              repr(said))


def check_recording(res, office, r):
    """The stereo recording next to the record: caller left, agent right."""
    path = r.get('recording')
    if not res.check(path and os.path.exists(path), '%s: the recording exists' % office,
                     repr(path)):
        return
    raw = path + '.raw'
    try:
        dec = 'oggdemux ! opusdec' if path.endswith('.ogg') else 'wavparse'
        subprocess.run(['gst-launch-1.0', '-q', 'filesrc', 'location=' + path, '!'] +
                       dec.split() + ['!', 'audioconvert', '!', 'audioresample', '!',
                                      'audio/x-raw,format=S16LE,rate=8000,channels=2', '!',
                                      'filesink', 'location=' + raw],
                       check=True, stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
        with open(raw, 'rb') as f:
            pcm = f.read()
    finally:
        if os.path.exists(raw):
            os.unlink(raw)
    seconds = len(pcm) / 4 / 8000.0
    answer = datetime.datetime.fromisoformat(r['answer'].replace('Z', '+00:00'))
    end = datetime.datetime.fromisoformat(r['end'].replace('Z', '+00:00'))
    call = (end - answer).total_seconds()
    res.check(abs(seconds - call) < 0.15 * call + 1.0,
              '%s: %s is as long as the call (%.1f s for %.1f s)'
              % (office, os.path.basename(path), seconds, call))
    left = audioop.tomono(pcm, 2, 1, 0)
    right = audioop.tomono(pcm, 2, 0, 1)

    def loud(mono, t0, t1):
        return audioop.rms(mono[int(t0 * 8000) * 2:int(t1 * 8000) * 2], 2)
    # the caller's turn (from the record) is on the left, the agent's greeting on the right
    caller = [t for t in r['turns'] if t['role'] == 'caller'][0]
    agent = r['turns'][0]
    offset = (answer - datetime.datetime.fromisoformat(r['invite'].replace('Z', '+00:00'))
              ).total_seconds()
    cl = loud(left, caller['start'] - offset, caller['end'] - offset)
    cr = loud(right, caller['start'] - offset, caller['end'] - offset)
    al = loud(left, agent['start'] - offset, agent['end'] - offset)
    ar = loud(right, agent['start'] - offset, agent['end'] - offset)
    res.check(cl > 300 and ar > 300 and cl > 4 * cr and ar > 4 * al,
              '%s: caller on the left, agent on the right (caller turn L %d R %d, '
              'agent turn L %d R %d)' % (office, cl, cr, al, ar))


def test_kill9(res, tmp):
    st.log('== kill -9 mid-call: the record on disk is whole and says incomplete')
    pcap, seconds = caller_pcap(tmp, first_wait=6.0, pause=30.0)
    with sv.Server(CONFIG % {'drain': 30}, files=SCRIPTS) as server:
        call = sipp_call(server, '+19195550100', pcap, seconds)
        rec = server.wait_record(
            lambda r: any(t['role'] == 'caller' for t in r.get('turns', [])), timeout=40)
        res.check(rec is not None, 'the caller\'s words are on disk during the call')
        server.proc.kill()
        server.proc.wait(5)
        call.proc.kill()
        call.wait()
        records = server.records_now()   # json.load of every file: raises if one is torn
        res.check(len(records) == 1, 'one record, readable JSON', repr(records))
        if records:
            r = records[0]
            res.check(r['complete'] is False and r['end'] is None and r['end_reason'] is None,
                      'marked incomplete (complete=false, no end)', repr(r)[:300])
            res.check(any(t['role'] == 'caller' and t['text'] for t in r['turns']),
                      'it holds what the caller said', repr(r['turns']))


def test_drain_and_reload(res, tmp):
    st.log('== SIGHUP reload, then SIGTERM drain with a call in progress')
    pcap, seconds = caller_pcap(tmp, first_wait=40.0, pause=1.0)
    with sv.Server(CONFIG % {'drain': 4}, files=SCRIPTS) as server:
        # reload: north's number now runs south's script
        with open(server.config) as f:
            text = f.read()
        with open(server.config, 'w') as f:
            f.write(text.replace('script = north.ini', 'script = south.ini'))
        server.signal(signal.SIGHUP)
        res.check(bool(server.wait_output(r'reloaded', 10)), 'SIGHUP: reloaded', server.output())
        call = sipp_call(server, '+19195550100', pcap, seconds)
        greeted = server.wait_output(r'\[north\] agent\s+Thank you for calling the (\w+) office', 20)
        res.check(greeted and greeted.group(1) == 'south',
                  'after the reload the north number greets with the new script',
                  server.output())
        t0 = time.monotonic()
        server.signal(signal.SIGTERM)
        res.check(bool(server.wait_output(r'taking no new calls', 5)), 'SIGTERM: draining')
        code, text = sv.invite(server.host, server.port, '+19195550200')
        res.check(code == 503 and sv.header(text, 'Retry-After') == '42',
                  'a new call while draining gets 503 with Retry-After', 'got %s' % code)
        rc = server.wait(30)
        took = time.monotonic() - t0
        r = call.wait()
        res.check(rc == 0, 'the server exits 0 after the drain', 'exit %s' % rc)
        res.check(3.5 < took < 15, 'the call in progress had its drain-timeout (4 s) first',
                  '%.1f s' % took)
        res.check(r.rc == 0, 'the caller got our BYE (sipp exit 0)', st.sipp_report(r))
        rec = [x for x in server.records_now() if x.get('office') == 'north']
        res.check(len(rec) == 1 and rec[0]['complete'] and rec[0]['end_reason'] == 'local-hangup',
                  'its record is complete, ended by our hangup',
                  repr([(x.get('end_reason'), x.get('complete')) for x in rec]))


TRANSFER_SCRIPT = """[script]
start = greeting
transfer-failed = say Sorry, nobody can take your call.; goto message
[state greeting]
say = Please hold while I connect you with an attorney.
next = transfer attorney
[state message]
say = Please leave a message.
timeout = 30
slot = text
field = message
filled = hangup
"""
TRANSFER_CONFIG = """[server]
listen = 127.0.0.1:{port}
records = {records}
rtp-port-min = {rtp_min}
rtp-port-max = {rtp_max}

[office east]
did = +19195550300
script = transfer.ini
transfer = tel:+19195550310
"""


def test_transfer(res, tmp):
    st.log('== transfer through the server: the office\'s target in the REFER, the result in the record')
    pcm = b'\0' * (8000 * 2 * 20)   # 20 s of silence: the caller just listens
    pcap = os.path.join(tmp, 'silence.pcap')
    st.make_rtp_pcap(pcap, 0, payload=sp.encode(pcm, 'PCMU'), payload_size=sp.PAYLOAD_SIZE)
    for scenario, extra, result, ended in (
            ('uac_refer_accept.xml', {}, 'succeeded (200)', 'local-hangup'),
            ('uac_refer_busy.xml', {'final_frag': '486 Busy Here'}, 'failed (486)',
             'remote-hangup')):
        sets = {'pause_ms': 8000} if 'final_frag' in extra else {}
        with sv.Server(TRANSFER_CONFIG, files={'transfer.ini': TRANSFER_SCRIPT}) as server:
            r = st.Sipp(scenario, server.host, server.port, service='+19195550300',
                        keys=dict(pcap=pcap, **extra), sets=sets,
                        timeout=60).start().wait()
            res.check(r.rc == 0, '%s: the call went as the transferee expected' % scenario,
                      st.sipp_report(r))
            refers = [m for m in st.sipp_received(r) if m.startswith('REFER ')]
            refer_to = sv.header(refers[0], 'Refer-To') if refers else None
            res.check(refer_to == '<tel:+19195550310>',
                      '%s: Refer-To is the office\'s transfer target' % scenario, repr(refer_to))
            rec = server.wait_record(lambda x: x.get('complete'), timeout=10)
            actions = rec and [(a['type'], a['target'], a['result']) for a in rec['actions']]
            res.check(rec is not None and ('transfer', 'attorney', result) in actions,
                      '%s: the record has the transfer with result "%s"' % (scenario, result),
                      repr(actions))
            res.check(rec is not None and rec['end_reason'] == ended,
                      '%s: the call ended: %s' % (scenario, ended), rec and rec['end_reason'])
            server.stop()


ISOLATION_CONFIG = """[server]
listen = 127.0.0.1:{port}
records = {records}
rtp-port-min = {rtp_min}
rtp-port-max = {rtp_max}
# every call's pipeline fails after 150 packets (3 s) of the caller's audio
launch = sipsrc ! rtppcmudepay ! identity error-after=150 ! rtppcmupay ! sipsink

[office main]
did = +19195550100
"""


def test_isolation(res, tmp):
    st.log('== one call\'s pipeline error ends that call only')
    long_pcap = os.path.join(tmp, 'long.pcap')
    short_pcap = os.path.join(tmp, 'short.pcap')
    st.make_rtp_pcap(long_pcap, 0, n_packets=500)    # 10 s: fails at 3 s
    st.make_rtp_pcap(short_pcap, 0, n_packets=100)   # 2 s: ends before its own failure
    with sv.Server(ISOLATION_CONFIG) as server:
        failing = st.Sipp('uac_talk_wait_bye.xml', server.host, server.port,
                          service='+19195550100', keys={'codec_pt': 0, 'codec_name': 'PCMU',
                                                        'pcap': long_pcap}, timeout=40).start()
        time.sleep(1.8)
        # up from 1.8 s to about 4.3 s: across the other call's failure at 3 s
        healthy = st.Sipp('uac_echo.xml', server.host, server.port, service='+19195550100',
                          keys={'codec_pt': 0, 'codec_name': 'PCMU', 'pcap': short_pcap},
                          sets={'pause_ms': 2500}, timeout=40).start()
        rf, rh = failing.wait(), healthy.wait()
        res.check(rf.rc == 0, 'the failing call gets our BYE', st.sipp_report(rf))
        res.check(rh.rc == 0, 'the other call goes on to its own end', st.sipp_report(rh))
        time.sleep(1)
        recs = sorted(server.records_now(), key=lambda r: r['invite'])
        reasons = [(r.get('end_reason'), r.get('complete')) for r in recs]
        res.check(reasons == [('error', True), ('remote-hangup', True)],
                  'records: the first ended in error, the second by the caller', repr(reasons))
        res.check(len(recs) == 2 and recs[1]['media'].get('packets_received', 0) >= 95,
                  'the second call\'s media went on (packets received)',
                  repr(recs[1]['media'] if len(recs) == 2 else recs))
        rc = server.stop()
        res.check(rc == 0, 'the server is still up and stops cleanly', 'exit %s' % rc)


def test_full_disk(res, tmp):
    st.log('== records on a full disk: the call goes on, the error is logged, the record comes back')
    if not shutil.which('mount'):
        return res.note_skip('no mount')
    disk = tempfile.mkdtemp(prefix='servertest-disk-')
    if subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', disk]).returncode != 0:
        shutil.rmtree(disk, ignore_errors=True)
        return res.note_skip('cannot mount a tmpfs')
    try:
        records = os.path.join(disk, 'records')
        os.mkdir(records)
        filler = os.path.join(disk, 'filler')
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
        try:   # fill it: ENOSPC ends the loop
            while True:
                os.write(fd, b'\0' * 4096)
        except OSError:
            pass
        os.close(fd)
        pcap, seconds = caller_pcap(tmp)
        # records only: an audio recording would fill the small disk again
        conf = CONFIG.replace('records = {records}', 'records = ' + records)
        conf = '\n'.join(l for l in conf.split('\n') if not l.startswith('record-audio'))
        with sv.Server(conf % {'drain': 30}, files=SCRIPTS) as server:
            call = sipp_call(server, '+19195550100', pcap, seconds)
            logged = server.wait_output(r'gst-sip-agent: could not write call record', 0) or None
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not logged:
                logged = 'could not write call record' in server.err.text()
                time.sleep(0.2)
            res.check(bool(logged), 'the failed write is logged', server.err.text()[-500:])
            os.unlink(filler)   # space again: the next change writes the record
            r = call.wait()
            res.check(r.rc == 0, 'the call went on to its end (sipp exit 0)', st.sipp_report(r))
            rc = server.stop()
            res.check(rc == 0, 'the server exits 0', 'exit %s' % rc)
            recs = [json.load(open(p)) for p in glob.glob(os.path.join(records, '*.json'))]
            res.check(len(recs) == 1 and recs[0]['complete'] and
                      any(t['role'] == 'caller' for t in recs[0]['turns']),
                      'the whole record is written once there is space',
                      repr(recs)[:300])
            res.check(not glob.glob(os.path.join(records, '.*.tmp')),
                      'no temporary file left behind')
    finally:
        subprocess.run(['umount', disk])
        shutil.rmtree(disk, ignore_errors=True)


MEDIA_CONFIG = """[server]
listen = 127.0.0.1:{port}
records = {records}
rtp-port-min = {rtp_min}
rtp-port-max = {rtp_max}
media-timeout = 2
session-expires = 300
launch = sipsrc ! rtppcmudepay ! rtppcmupay ! sipsink

[office main]
did = +19195550100
"""


def test_media_timeout(res, tmp):
    with sv.Server(MEDIA_CONFIG) as server:
        # a caller that never sends RTP: our BYE after media-timeout
        t0 = time.monotonic()
        r = st.run_sipp('uac_wait_bye.xml', server.host, server.port, service='+19195550100',
                        keys={'codec_pt': 0, 'codec_name': 'PCMU'}, timeout=20)
        took = time.monotonic() - t0
        res.check(r.rc == 0 and 1.5 < took < 8,
                  'no RTP from the caller: our BYE after media-timeout = 2 (call took %.1f s)'
                  % took, st.sipp_report(r) + server.output())
        ok200 = st.find_response(r, 200, 'INVITE') or ''
        se = re.search(r'^Session-Expires:\s*(.*?)\s*$', ok200, re.M | re.I)
        # SIPp's INVITE knows no session timers: we refresh (RFC 4028 9)
        res.check(se is not None and se.group(1) == '300;refresher=uas',
                  'session-expires = 300: the 200 says Session-Expires: %s'
                  % (se.group(1) if se else None), ok200)
        rec = server.wait_record(lambda x: x.get('complete'), 10) or {}
        res.check(rec.get('end_reason') == 'media-timeout',
                  'its record: end_reason media-timeout', str(rec))
        # on hold (sendonly) the silence does not count
        r = st.run_sipp('uac_hold_silent.xml', server.host, server.port, service='+19195550100',
                        keys={'codec_pt': 0, 'codec_name': 'PCMU'}, sets={'pause_ms': 5000},
                        timeout=20)
        res.check(r.rc == 0, 'a silent caller on hold for 5 s keeps the call (hangs up itself)',
                  st.sipp_report(r) + server.output())
        recs = [x for x in server.records_now() if x.get('complete')]
        res.check(len(recs) == 2 and any(x.get('end_reason') == 'remote-hangup' for x in recs),
                  'its record: remote-hangup', str(recs))


def check_config(text, files=None):
    with tempfile.TemporaryDirectory(prefix='servertest-conf-') as d:
        for name, body in (files or {}).items():
            with open(os.path.join(d, name), 'w') as f:
                f.write(body)
        path = os.path.join(d, 'bad.conf')
        with open(path, 'w') as f:
            f.write(text)
        env = st.gst_env(os.path.join(d, 'registry.bin'))
        env['GST_DEBUG'] = '*:1'
        r = subprocess.run([sv.SERVER, '--check', '--config', path], env=env,
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
        return r.returncode, r.stderr.decode().replace(d + '/', ''), r.stdout.decode()


def test_config(res, tmp):
    st.log('== configuration errors: exit 2 with FILE:LINE')
    good = '[server]\nlisten = 127.0.0.1:5060\n\n[office main]\ndid = +19195550100\n'
    rc, err, out = check_config(good)
    res.check(rc == 0 and 'OK, 1 offices' in out, 'a good config checks OK', err + out)
    cases = [
        ('[server]\nlisten = 127.0.0.1:5060\nmax-cals = 3\n[office a]\ndid = +19195550100\n',
         'bad.conf:3: unknown key "max-cals" in [server]'),
        ('[office a]\ndid = 9195550100\n', 'bad.conf:2: "9195550100" is not an E.164 number'),
        ('[office a]\ndid = +19195550100\n\n[office b]\ndid = +19195550100\n',
         'bad.conf:5: +19195550100 is already an office\'s number (line 2)'),
        ('[office a]\nscript = nope.ini\n', 'bad.conf:1: [office a] needs did'),
        ('[server]\nlisten = localhost\n[office a]\ndid = +19195550100\n',
         'bad.conf:2: listen must be a numeric HOST:PORT'),
        ('[server]\nmax-calls = 0\n[office a]\ndid = +19195550100\n',
         'bad.conf:2: max-calls must be a whole number from 1 to 10000'),
        ('[trunk t]\nregistrar = sip:example.com\n[office a]\ndid = +19195550100\n',
         'bad.conf:2: [trunk t] registers, so it needs username'),
        ('[offices a]\ndid = +19195550100\n', 'bad.conf:1: unknown group [offices a]'),
        ('[server]\nlisten = 127.0.0.1:5060\n', 'bad.conf:1: no [office NAME] group'),
        ('[server]\ndefault-office = main\n[office a]\ndid = +19195550100\n',
         'bad.conf:2: default-office main is not an [office main] group'),
        ('[office a]\ndid = +19195550100\ntransfer = attorney@example.com\n',
         'bad.conf:3: transfer must be a sip:, sips: or tel: URI'),
        ('[office a]\ndid = +19195550100\nlanguage = es\ntts = flite\n',
         'bad.conf:4: flite speaks English only'),
        ('[office a]\ndid = +19195550100\nscript = broken.ini\n',
         'broken.ini:5: goto unknown state'),
        ('[server]\nlaunch = sipsrc ! nosuchelement ! sipsink\n[office a]\ndid = +19195550100\n',
         'no element "nosuchelement"'),
        ('[office a]\ndid = +19195550100\nvoice = nosuch\n',
         'bad.conf:1: [office a] voice: flite has no voice "nosuch"'),
    ]
    files = {'broken.ini': '[script]\nstart = a\n[state a]\nsay = hello\nnext = goto nowhere\n'}
    for text, want in cases:
        rc, err, _ = check_config(text, files)
        res.check(rc == 2 and want in err, 'exit 2: %s' % want, 'exit %d: %s' % (rc, err.strip()))
    r = subprocess.run([sv.SERVER], capture_output=True, stdin=subprocess.DEVNULL, timeout=30)
    res.check(r.returncode == 2 and b'--config' in r.stderr, 'no --config: exit 2 and says so',
              r.stderr.decode())


def main():
    for tool in ('sipp', 'flite'):
        st.require(tool)
    st.require_root('SIPp plays RTP through a raw socket')
    sv.require_server()
    st.require_elements('sttbridge', 'agent', 'ttsbridge', 'mulawdec', 'mulawenc')
    res = st.Results('test_server')
    tests = {'config': test_config, 'offices': test_offices, 'kill9': test_kill9,
             'drain': test_drain_and_reload, 'fulldisk': test_full_disk,
             'transfer': test_transfer, 'isolation': test_isolation,
             'media': test_media_timeout}
    only = sys.argv[1:] or list(tests)
    tmp = tempfile.mkdtemp(prefix='servertest-audio-')
    try:
        for name in only:
            tests[name](res, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    res.exit()


if __name__ == '__main__':
    main()
