#!/usr/bin/env python3
"""Generates the C tables of lib/registry.c from the CSV files beside this script.

usage: gen_registry.py CSV_DIR OUTPUT.c

Cipher-suite properties (key exchange, authentication, cipher and bits, MAC,
AEAD, forward secrecy, export, protocol range) are derived from the IANA names
by the rules in describe_suite(); nothing is typed per suite.  Fails loudly on
a name it cannot explain, so a new CSV row cannot slip in undescribed.
"""
import csv
import re
import sys


def rows(path):
    with open(path, newline='') as f:
        lines = [l for l in f if not l.startswith('#')]
    return list(csv.reader(lines))[1:]


def suite_code(value):
    m = re.fullmatch(r'"?0x([0-9A-Fa-f]{2}),0x([0-9A-Fa-f]{2})"?', value.strip())
    return int(m.group(1) + m.group(2), 16) if m else None


KX_AUTH = {
    # prefix before _WITH_: (kx, auth)
    'NULL': ('NULL', 'ANON'),
    'RSA': ('RSA', 'RSA'),
    'DH_DSS': ('DH', 'DSS'), 'DH_RSA': ('DH', 'RSA'),
    'DHE_DSS': ('DHE', 'DSS'), 'DHE_RSA': ('DHE', 'RSA'), 'DH_anon': ('DHE', 'ANON'),
    'ECDH_ECDSA': ('ECDH', 'ECDSA'), 'ECDH_RSA': ('ECDH', 'RSA'),
    'ECDHE_ECDSA': ('ECDHE', 'ECDSA'), 'ECDHE_RSA': ('ECDHE', 'RSA'), 'ECDH_anon': ('ECDHE', 'ANON'),
    'PSK': ('PSK', 'PSK'), 'DHE_PSK': ('DHE_PSK', 'PSK'), 'PSK_DHE': ('DHE_PSK', 'PSK'),
    'RSA_PSK': ('RSA_PSK', 'RSA'), 'ECDHE_PSK': ('ECDHE_PSK', 'PSK'),
    'SRP_SHA': ('SRP', 'ANON'), 'SRP_SHA_RSA': ('SRP', 'RSA'), 'SRP_SHA_DSS': ('SRP', 'DSS'),
    'KRB5': ('KRB5', 'KRB5'),
    'ECCPWD': ('ECCPWD', 'OTHER'),
    'GOSTR341112_256': ('GOST', 'GOST'),
}
FS_KX = {'DHE', 'ECDHE', 'DHE_PSK', 'ECDHE_PSK', 'ECCPWD'}
MACS = {'NULL': 'NONE', 'MD5': 'MD5', 'SHA': 'SHA1', 'SHA256': 'SHA256', 'SHA384': 'SHA384', 'SM3': 'SM3'}
# cipher name pattern -> (bits, aead)
CIPHERS = [
    (r'NULL', 0, False),
    (r'RC4_(40|56|128)', None, False),
    (r'RC2_CBC_(40|56)', None, False),
    (r'RC2_CBC', 128, False),
    (r'IDEA_CBC', 128, False),
    (r'DES40_CBC', 40, False),
    (r'DES_CBC_40', 40, False),
    (r'DES_CBC', 56, False),
    (r'3DES_EDE_CBC', 112, False),
    (r'(AES|CAMELLIA|ARIA)_(128|256)_(CBC)', None, False),
    (r'(AES|CAMELLIA|ARIA)_(128|256)_(GCM|CCM|CCM_8)', None, True),
    (r'SEED_CBC', 128, False),
    (r'CHACHA20_POLY1305', 256, True),
    (r'SM4_(GCM|CCM)', 128, True),
    (r'KUZNYECHIK_CTR', 256, False),
    (r'MAGMA_CTR', 256, False),
    (r'28147_CNT', 256, False),
    (r'(KUZNYECHIK|MAGMA)_MGM_[LS]', 256, True),
]


def cipher_bits(cipher):
    for pat, bits, aead in CIPHERS:
        m = re.fullmatch(pat, cipher)
        if not m:
            continue
        if bits is None:
            nums = [g for g in m.groups() if g and g.isdigit()]
            bits = int(nums[0])
        return bits, aead
    raise SystemExit('gen_registry: cannot size cipher %r' % cipher)


def describe_suite(code, name):
    """Returns a dict of properties derived from the IANA name."""
    base = name[4:] if name.startswith('OLD_') else name
    if not base.startswith('TLS_'):
        raise SystemExit('gen_registry: suite name %r does not start with TLS_' % name)
    body = base[4:]
    d = dict(kx='NONE', auth='NONE', cipher='NULL', bits=0, mac='NONE', aead=False, fs=False,
             export=False, anon=False, null=False, scsv=False, minv='TLS12', maxv='TLS12')
    if body.endswith('_SCSV'):
        d.update(kx='SCSV', scsv=True, minv='0', maxv='0')
        return d
    if '_WITH_' not in body:
        # TLS 1.3 style: TLS_<cipher>_<hash>, and the integrity-only TLS_SHA256_SHA256
        m = re.fullmatch(r'(.+)_(SHA256|SHA384|SM3)', body)
        if not m:
            raise SystemExit('gen_registry: cannot read TLS 1.3 suite %r' % name)
        cipher = m.group(1)
        if cipher in ('SHA256', 'SHA384'):
            d.update(cipher='NULL', bits=0, mac=MACS[cipher], null=True)
        else:
            bits, aead = cipher_bits(cipher)
            d.update(cipher=cipher, bits=bits, aead=aead, mac='AEAD')
        d.update(fs=True, minv='TLS13', maxv='TLS13')
        return d
    left, right = body.split('_WITH_', 1)
    export = False
    m = re.fullmatch(r'(.+?)_EXPORT(1024)?', left)
    if m:
        left, export = m.group(1), True
    if left not in KX_AUTH:
        raise SystemExit('gen_registry: unknown key exchange %r in %r' % (left, name))
    kx, auth = KX_AUTH[left]
    # right: <cipher>[_<mac>]
    mac = None
    m = re.fullmatch(r'(.+)_(NULL|MD5|SHA|SHA256|SHA384|SM3)', right)
    if m and re.fullmatch(r'.*(GCM|CCM|CCM_8|POLY1305)', m.group(1)):
        cipher = m.group(1)          # the hash names the PRF of an AEAD suite
    elif m:
        cipher, mac = m.group(1), MACS[m.group(2)]
    else:
        cipher = right
    gm = re.fullmatch(r'(KUZNYECHIK_CTR|MAGMA_CTR|28147_CNT)_(OMAC|IMIT)', cipher)
    if gm:
        cipher, mac = gm.group(1), 'GOST'
    bits, aead = cipher_bits(cipher)
    if aead:
        mac = 'AEAD'
    if mac is None:
        raise SystemExit('gen_registry: no MAC in %r' % name)
    if export:
        # the key is cut to 40 bits (56 for the EXPORT1024 suites that say so)
        bits = min(bits, 56 if '56' in cipher else 40) if bits else 0
    d.update(kx=kx, auth=auth, cipher=cipher, bits=bits, mac=mac, aead=aead,
             fs=kx in FS_KX, export=export, anon=(auth == 'ANON'),
             null=(cipher == 'NULL'))
    if kx == 'NULL':
        d['mac'] = 'NONE'
    # protocol range
    if aead or mac in ('SHA256', 'SHA384'):
        minv, maxv = 'TLS12', 'TLS12'
    elif kx == 'GOST':
        minv, maxv = 'TLS12', 'TLS12'
    elif kx in ('RSA', 'DH', 'DHE', 'NULL') and re.fullmatch(
            r'NULL|RC4_\d+|RC2_CBC(_\d+)?|IDEA_CBC|DES40_CBC|DES_CBC|3DES_EDE_CBC|AES_(128|256)_CBC',
            cipher):
        minv, maxv = 'SSL3', 'TLS12'
    else:
        minv, maxv = 'TLS10', 'TLS12'
    if re.fullmatch(r'(KUZNYECHIK|MAGMA)_MGM_[LS]', cipher):
        minv, maxv = 'TLS13', 'TLS13'
        d['fs'] = True
    if kx == 'ECCPWD':
        maxv = 'TLS13'
    if export:
        maxv = 'TLS10'                       # RFC 4346: export suites end with TLS 1.0
    elif cipher in ('DES_CBC', 'IDEA_CBC'):
        maxv = 'TLS11'                       # RFC 5246 drops single DES and IDEA
    d.update(minv=minv, maxv=maxv)
    return d


def cstr(s):
    return 'NULL' if s is None else '"' + s.replace('\\', '\\\\').replace('"', '\\"') + '"'


VERSIONS = {'0': '0', 'SSL3': 'TS_SSL3', 'TLS10': 'TS_TLS10', 'TLS11': 'TS_TLS11',
            'TLS12': 'TS_TLS12', 'TLS13': 'TS_TLS13'}


def group_props(name):
    m = re.search(r'(\d+)', name)
    num = int(m.group(1)) if m else 0
    if re.search(r'MLKEM|Kyber', name):
        kind = 'hybrid' if re.search(r'X25519|SecP', name) else 'pq'
        bits = 255 if 'X25519' in name else (int(re.search(r'SecP(\d+)', name).group(1))
                                           if 'SecP' in name else 0)
        return kind, bits
    if name.startswith('ffdhe'):
        return 'ff', num
    if name == 'x25519':
        return 'ec', 255
    if name == 'x448':
        return 'ec', 448
    if re.match(r'(sec[pt]|brainpoolP|GC)\d+', name):
        return 'ec', num
    if name == 'curveSM2':
        return 'ec', 256
    return 'other', 0


def main():
    src, out = sys.argv[1], sys.argv[2]
    suites = {}
    for f in ('tls-cipher-suites-2015.csv', 'tls-cipher-suites-additions.csv'):
        for r in rows(src + '/' + f):
            code = suite_code(r[0])
            if code is None or not r[1].startswith(('TLS_', 'OLD_TLS_')):
                continue   # ranges of unassigned / reserved values
            if code in suites and suites[code][0] != r[1]:
                raise SystemExit('gen_registry: 0x%04x named twice' % code)
            suites[code] = (r[1], describe_suite(code, r[1]))
    ossl = {}
    for r in rows(src + '/openssl-names.csv'):
        code = suite_code(r[0])
        if code is not None:
            if code not in suites:
                raise SystemExit('gen_registry: OpenSSL knows 0x%04x (%s), the registry does not'
                                 % (code, r[1]))
            ossl[code] = r[1]
    groups = [(int(r[0]), r[1].replace(' (obsolete)', ''), r[2]) for r in
              rows(src + '/tls-supported-groups.csv')]
    sigs = [(int(r[0], 16), r[1], r[2]) for r in rows(src + '/tls-signature-schemes.csv')]
    exts = [(int(r[0]), r[1]) for r in rows(src + '/tls-extensiontype-values.csv')]
    alerts = [(int(r[0]), r[1]) for r in rows(src + '/tls-alerts.csv')]

    o = []
    o.append('/* Generated by lib/registry/gen_registry.py from the CSV files in lib/registry/: do not edit. */')
    o.append('#include "registry_tables.h"\n')
    o.append('const struct ts_suite_info ts_registry_suites[] = {')
    for code in sorted(suites):
        name, d = suites[code]
        o.append('\t{ 0x%04x, %s, %s, TS_KX_%s, TS_AUTH_%s, %s, %d, TS_MAC_%s, %s, %s, %s, %s, %s, %s, %s, %s },'
                 % (code, cstr(name), cstr(ossl.get(code)), d['kx'], d['auth'], cstr(d['cipher']),
                    d['bits'], d['mac'], str(d['aead']).lower(), str(d['fs']).lower(),
                    str(d['export']).lower(), str(d['anon']).lower(), str(d['null']).lower(),
                    str(d['scsv']).lower(), VERSIONS[d['minv']], VERSIONS[d['maxv']]))
    o.append('};')
    o.append('const size_t ts_registry_suites_count = %d;\n' % len(suites))
    o.append('const struct ts_group_info ts_registry_groups[] = {')
    for code, name, rec in sorted(groups):
        kind, bits = group_props(name)
        o.append('\t{ %d, %s, "%s", %d, %s, %s },' % (code, cstr(name), kind, bits,
                 str(rec == 'Y').lower(), str(rec == 'D').lower()))
    o.append('};')
    o.append('const size_t ts_registry_groups_count = %d;\n' % len(groups))
    o.append('const struct ts_sigscheme_info ts_registry_sigschemes[] = {')
    for code, name, rec in sorted(sigs):
        o.append('\t{ 0x%04x, %s, %s },' % (code, cstr(name), str(rec == 'Y').lower()))
    o.append('};')
    o.append('const size_t ts_registry_sigschemes_count = %d;\n' % len(sigs))
    for tname, table in (('extensions', exts), ('alerts', alerts)):
        o.append('const struct ts_named_value ts_registry_%s[] = {' % tname)
        for code, name in sorted(table):
            o.append('\t{ %d, %s },' % (code, cstr(name)))
        o.append('};')
        o.append('const size_t ts_registry_%s_count = %d;\n' % (tname, len(table)))
    with open(out, 'w') as f:
        f.write('\n'.join(o) + '\n')


if __name__ == '__main__':
    main()
