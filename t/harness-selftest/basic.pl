use warnings;
use strict;
use Test::More;
use Test::Nginx;
use Test::Nginx::Stream qw/ stream /;
use Herd::Util;

my $t = Test::Nginx->new()->has(qw/stream stream_return/)
	->write_file_expand('nginx.conf', <<'EOF2');
%%TEST_GLOBALS%%
daemon off;
events { }
stream {
    %%TEST_GLOBALS_STREAM%%
    server { listen 127.0.0.1:8080; return "hello\n"; }
    server { listen 127.0.0.1:%%PORT_8999%%; return "two\n"; }
}
EOF2
$t->run()->plan(14);

my $conf = $t->read_file('nginx.conf');
like($conf, qr/listen 127\.0\.0\.1:${\ port(8080)};/, 'port rewritten');
like($conf, qr/error_log \Q${\ $t->testdir()}\E\/error.log debug;/, 'globals');
is(stream('127.0.0.1:' . port(8080))->io(''), "hello\n", 'io');
is(stream('127.0.0.1:' . port(8999))->io('', read => 1), "two\n", 'io port_N');
my $s = stream('127.0.0.1:' . port(8080));
is($s->read(read_timeout => 2), "hello\n", 'read');
is($s->read(read_timeout => 2), '', 'eof');
ok($s->sockport > 0, 'sockport ' . $s->sockport);
undef $s;
is(herd_raw('127.0.0.1:' . port(8080), "x\n"), "hello\n", 'herd_raw');
is(herd_chat('127.0.0.1:' . port(8080), "x", "y"), "hello\n", 'herd_chat');
$s = stream('127.0.0.1:' . port(8080));
is(herd_line($s), "hello\n", 'herd_line');
is(herd_line($s, timeout => 1), undef, 'herd_line eof');
undef $s;
ok(herd_reload($t), 'herd_reload');
is(stream('127.0.0.1:' . port(8080))->io(''), "hello\n", 'io after reload');
$t->stop();
ok(!defined herd_raw('127.0.0.1:' . port(8080), "x\n"), 'stopped');
