use warnings;
use strict;
use Test::More;
use Test::Nginx;
use Test::Nginx::Stream qw/ stream /;

my $t = Test::Nginx->new()->has(qw/stream/)->write_file_expand('nginx.conf', <<"EOF2");
$ENV{TEST_NGINX_GLOBALS}
daemon off;
events { }
stream { server { listen 127.0.0.1:8080; return "hi\n"; } }
EOF2
$t->run()->plan(2);
is(stream('127.0.0.1:' . port(8080))->io(''), "hi\n", 'no %%TEST_GLOBALS%%');
ok(-e $t->testdir . '/nginx.pid', 'pid file in testdir via -g');
