#!/usr/bin/perl

# Tests for ngx_stream_herd_module: configuration mistakes that "nginx -t"
# must catch, each with a message that says what is wrong and where.

###############################################################################

use warnings;
use strict;

use Test::More;

use Test::Nginx;
use Test::Nginx::Stream qw/ stream /;
use Herd::Util;
use Herd::Conf;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Test::Nginx->new()->has(qw/stream stream_limit_conn/)
	->write_file_expand('nginx.conf', <<'EOF');

%%TEST_GLOBALS%%

daemon off;

events {
}

stream {
    %%TEST_GLOBALS_STREAM%%

    herd_zone zone=goloman:32k;
    herd_zone zone=hands:1m;

    herd_timeout 30s;

    server {
        listen 127.0.0.1:8110;
        herd Goloman zone=goloman;
    }

    server {
        listen 127.0.0.1:8111;
        herd Hands zone=hands;
        herd_max_line 1m;
        herd_timeout 1h;
    }

    # a zone may be declared after the server that uses it
    server {
        listen 127.0.0.1:8112;
        herd Holiday zone=holiday;
        herd_max_line 64;
    }

    herd_zone zone=holiday:64k;
}

EOF

$t->run()->plan(28);

###############################################################################

# the good configuration runs and passes "nginx -t"

my $at = herd_chat('127.0.0.1:' . port(8110),
	'IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 1520023934.918963997');
like($at, qr/^AT Goloman [+-]\d+\.\d{9} kiwi\.cs\.ucla\.edu \+34\.068930-118\.445127 1520023934\.918963997\n\z/,
	'the good configuration serves the herd protocol');

like(herd_chat('127.0.0.1:' . port(8112), 'IAMAT a.b +1.5-2.25 1600000000.5'),
	qr/^AT Holiday [+-]\d+\.\d{9} a\.b \+1\.5-2\.25 1600000000\.5\n\z/,
	'a zone declared after its server and herd_max_line 64 work');

like(herd_conf_test($t, 'nginx.conf'),
	qr/syntax is ok.*test is successful.*exit status 0\n\z/s,
	'nginx -t accepts the good configuration');

# each bad configuration: the herd part of a stream block (the object is
# passed, not captured: a named sub holding $t would keep it alive past the
# end of Test::More's own bookkeeping)

sub bad {
	my ($t, $name, $stream) = @_;

	$t->write_file_expand($name, <<EOF);

%%TEST_GLOBALS%%

daemon off;

events {
}

stream {
    %%TEST_GLOBALS_STREAM%%
$stream
}

EOF

	return herd_conf_test($t, $name);
}

# a failed test: the message, then nginx's own verdict, then exit 1

sub failed {
	my ($re) = @_;
	return qr/\[emerg\][^\n]*$re.*test failed\n.*exit status 1\n\z/s;
}

my $dir = $t->testdir();

like(bad($t, 'no-zone.conf', <<'EOF'), failed(qr/herd server "Goloman" needs a zone: "herd Goloman zone=NAME;" with "herd_zone zone=NAME:SIZE;" in the stream block in \Q$dir\E\/no-zone\.conf:\d+/),
    herd_zone zone=goloman:32k;
    server { listen 127.0.0.1:8120; herd Goloman; }
EOF
	'herd without zone= is rejected');

# the line of the "herd" directive is named

my $out = bad($t, 'unknown-zone.conf', <<'EOF');
    herd_zone zone=goloman:32k;
    server {
        listen 127.0.0.1:8120;
        herd Goloman zone=golomann;
    }
EOF
like($out, failed(qr/herd_zone "golomann" used by herd server "Goloman" in \Q$dir\E\/unknown-zone\.conf:(\d+) is not declared: add "herd_zone zone=golomann:SIZE;" to the stream block/),
	'a zone= naming no herd_zone is rejected');

my @lines = split /\n/, $t->read_file('unknown-zone.conf');
my ($line) = grep { $lines[$_ - 1] =~ /herd Goloman zone=golomann/ }
	1 .. @lines;
like($out, qr/unknown-zone\.conf:$line is not declared/,
	'the unknown zone error names the line of the herd directive');

like(bad($t, 'shared-zone.conf', <<'EOF'), failed(qr/herd_zone "goloman" is used by herd servers "Goloman" \(\Q$dir\E\/shared-zone\.conf:\d+\) and "Hands" \(\Q$dir\E\/shared-zone\.conf:\d+\): each herd server needs a zone of its own/),
    herd_zone zone=goloman:32k;
    server { listen 127.0.0.1:8120; herd Goloman zone=goloman; }
    server { listen 127.0.0.1:8121; herd Hands zone=goloman; }
EOF
	'one zone used by two herd servers is rejected');

like(bad($t, 'same-name.conf', <<'EOF'), failed(qr/herd server "Goloman" is defined twice, in \Q$dir\E\/same-name\.conf:\d+ and \Q$dir\E\/same-name\.conf:\d+/),
    herd_zone zone=goloman:32k;
    herd_zone zone=hands:32k;
    server { listen 127.0.0.1:8120; herd Goloman zone=goloman; }
    server { listen 127.0.0.1:8121; herd Goloman zone=hands; }
EOF
	'two herd servers with the same name are rejected');

like(bad($t, 'twice.conf', <<'EOF'), failed(qr/"herd" directive is duplicate in \Q$dir\E\/twice\.conf:\d+/),
    herd_zone zone=goloman:32k;
    herd_zone zone=hands:32k;
    server {
        listen 127.0.0.1:8120;
        herd Goloman zone=goloman;
        herd Hands zone=hands;
    }
EOF
	'herd given twice in one server is rejected');

like(bad($t, 'space-name.conf', <<'EOF'), failed(qr/invalid herd server name "Go loman": it must be one word of printable characters in \Q$dir\E\/space-name\.conf:\d+/),
    herd_zone zone=goloman:32k;
    server { listen 127.0.0.1:8120; herd "Go loman" zone=goloman; }
EOF
	'a herd server name with white space is rejected');

like(bad($t, 'no-args.conf', <<'EOF'), failed(qr/invalid number of arguments in "herd" directive in \Q$dir\E\/no-args\.conf:\d+/),
    herd_zone zone=goloman:32k;
    server { listen 127.0.0.1:8120; herd; }
EOF
	'herd without a name is rejected');

like(bad($t, 'bad-param.conf', <<'EOF'), failed(qr/invalid parameter "peers=Hands" in \Q$dir\E\/bad-param\.conf:\d+/),
    herd_zone zone=goloman:32k;
    server { listen 127.0.0.1:8120; herd Goloman zone=goloman peers=Hands; }
EOF
	'an unknown herd parameter is rejected');

like(bad($t, 'zone-param-twice.conf', <<'EOF'), failed(qr/duplicate parameter "zone=hands" in \Q$dir\E\/zone-param-twice\.conf:\d+/),
    herd_zone zone=goloman:32k;
    herd_zone zone=hands:32k;
    server { listen 127.0.0.1:8120; herd Goloman zone=goloman zone=hands; }
EOF
	'zone= given twice to herd is rejected');

like(bad($t, 'main-herd.conf', <<'EOF'), failed(qr/"herd" directive is not allowed here in \Q$dir\E\/main-herd\.conf:\d+/),
    herd_zone zone=goloman:32k;
    herd Goloman zone=goloman;
    server { listen 127.0.0.1:8120; return ok; }
EOF
	'herd in the stream block itself is rejected');

# herd_zone

like(bad($t, 'zone-no-size.conf', <<'EOF'), failed(qr/invalid zone size in "zone=goloman", expected zone=name:size in \Q$dir\E\/zone-no-size\.conf:\d+/),
    herd_zone zone=goloman;
    server { listen 127.0.0.1:8120; herd Goloman zone=goloman; }
EOF
	'herd_zone without a size is rejected');

like(bad($t, 'zone-no-zone.conf', <<'EOF'), failed(qr/invalid parameter "goloman:32k", expected zone=name:size in \Q$dir\E\/zone-no-zone\.conf:\d+/),
    herd_zone goloman:32k;
    server { listen 127.0.0.1:8120; herd Goloman zone=goloman; }
EOF
	'herd_zone without zone= is rejected');

like(bad($t, 'zone-no-name.conf', <<'EOF'), failed(qr/invalid zone name in "zone=:32k" in \Q$dir\E\/zone-no-name\.conf:\d+/),
    herd_zone zone=:32k;
    server { listen 127.0.0.1:8120; herd Goloman zone=goloman; }
EOF
	'herd_zone with an empty name is rejected');

like(bad($t, 'zone-small.conf', <<'EOF'), failed(qr/zone "zone=goloman:4k" is too small: at least 32k in \Q$dir\E\/zone-small\.conf:\d+/),
    herd_zone zone=goloman:4k;
    server { listen 127.0.0.1:8120; herd Goloman zone=goloman; }
EOF
	'a herd_zone smaller than 32k is rejected');

like(bad($t, 'zone-large.conf', <<'EOF'), failed(qr/zone "zone=goloman:40960m" is too large: at most 32768m in \Q$dir\E\/zone-large\.conf:\d+/),
    herd_zone zone=goloman:40960m;
    server { listen 127.0.0.1:8120; herd Goloman zone=goloman; }
EOF
	'a herd_zone larger than 32768m is rejected');

like(bad($t, 'zone-bad-size.conf', <<'EOF'), failed(qr/invalid zone size "zone=goloman:lots" in \Q$dir\E\/zone-bad-size\.conf:\d+/),
    herd_zone zone=goloman:lots;
    server { listen 127.0.0.1:8120; herd Goloman zone=goloman; }
EOF
	'a herd_zone size that is not a size is rejected');

like(bad($t, 'zone-twice.conf', <<'EOF'), failed(qr/herd_zone "goloman" is already declared in \Q$dir\E\/zone-twice\.conf:\d+/),
    herd_zone zone=goloman:32k;
    herd_zone zone=goloman:32k;
    server { listen 127.0.0.1:8120; herd Goloman zone=goloman; }
EOF
	'herd_zone declared twice is rejected');

like(bad($t, 'zone-twice-size.conf', <<'EOF'), failed(qr/shared memory zone "goloman" conflicts with already declared size/),
    herd_zone zone=goloman:32k;
    herd_zone zone=goloman:64k;
    server { listen 127.0.0.1:8120; herd Goloman zone=goloman; }
EOF
	'herd_zone declared twice with two sizes is rejected');

like(bad($t, 'zone-other-use.conf', <<'EOF'), failed(qr/shared memory zone "addr" is already declared for a different use/),
    limit_conn_zone $binary_remote_addr zone=addr:32k;
    server { listen 127.0.0.1:8120; herd Goloman zone=addr; }
EOF
	'zone= naming a zone of another module is rejected');

like(bad($t, 'zone-in-server.conf', <<'EOF'), failed(qr/"herd_zone" directive is not allowed here in \Q$dir\E\/zone-in-server\.conf:\d+/),
    server {
        listen 127.0.0.1:8120;
        herd_zone zone=goloman:32k;
        herd Goloman zone=goloman;
    }
EOF
	'herd_zone inside a server is rejected');

# herd_max_line, herd_timeout

like(bad($t, 'line-small.conf', <<'EOF'), failed(qr/"herd_max_line" must be between 64 and 1048576 bytes, not 10 in \Q$dir\E\/line-small\.conf:\d+/),
    herd_zone zone=goloman:32k;
    server { listen 127.0.0.1:8120; herd Goloman zone=goloman; herd_max_line 10; }
EOF
	'herd_max_line below 64 is rejected');

like(bad($t, 'line-big.conf', <<'EOF'), failed(qr/"herd_max_line" must be between 64 and 1048576 bytes, not 2097152 in \Q$dir\E\/line-big\.conf:\d+/),
    herd_zone zone=goloman:32k;
    herd_max_line 2m;
    server { listen 127.0.0.1:8120; herd Goloman zone=goloman; }
EOF
	'herd_max_line above 1m is rejected');

like(bad($t, 'line-bad.conf', <<'EOF'), failed(qr/"herd_max_line" directive invalid value in \Q$dir\E\/line-bad\.conf:\d+/),
    herd_zone zone=goloman:32k;
    server { listen 127.0.0.1:8120; herd Goloman zone=goloman; herd_max_line long; }
EOF
	'a herd_max_line that is not a size is rejected');

like(bad($t, 'timeout-bad.conf', <<'EOF'), failed(qr/"herd_timeout" directive invalid value in \Q$dir\E\/timeout-bad\.conf:\d+/),
    herd_zone zone=goloman:32k;
    server { listen 127.0.0.1:8120; herd Goloman zone=goloman; herd_timeout 10y; }
EOF
	'a herd_timeout that is not a time is rejected');

###############################################################################
