use warnings;
use strict;
use Test::More;
use Test::Nginx;
use Herd::Util;
my $t = Test::Nginx->new();
$t->run_daemon('/usr/bin/perl', '-MIO::Socket::INET', '-e',
  'my $l = IO::Socket::INET->new(LocalAddr => "127.0.0.1:$ARGV[0]", Listen => 5, ReuseAddr => 1) or die; while (my $c = $l->accept) { local $/; my $d = <$c>; print $c uc $d; close $c }',
  port(8081));
plan(tests => 2);
ok($t->waitforsocket('127.0.0.1:' . port(8081)), 'waitforsocket');
is(herd_raw('127.0.0.1:' . port(8081), "abc\n"), "ABC\n", 'path daemon + herd_raw');
$t->stop_daemons();
