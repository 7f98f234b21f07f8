#!/usr/bin/perl
# Catch-up benchmark: how long a herd server that was down takes to hold
# every record its neighbour holds once it comes back.
#
#   perl bench/catchup.pl [clients] [module.so]
#
# Starts two herd servers A and B (one nginx each, 2 workers, peers of each
# other) on 127.0.0.1:12100/12101 under build/bench-catchup/, stops B,
# sends N IAMATs (distinct clients) to A, starts B empty and polls both
# servers' bucket digests through the peer greeting ("HERD 1 <name>" is
# answered with "DIGEST 1 <name> <digests>") until they are equal.  Prints
# the time from B's start to equal digests.

use strict;
use warnings;
use IO::Socket::INET;
use Time::HiRes qw/time sleep/;
use File::Path qw/make_path remove_tree/;
use Cwd qw/abs_path/;

my $n = shift // 100000;
my $so = abs_path(shift // 'build/ngx_stream_herd_module.so');
my $stream_so = $ENV{STREAM_SO} // '/usr/lib/nginx/modules/ngx_stream_module.so';
my $nginx = $ENV{NGINX_BIN} // '/usr/sbin/nginx';
my $dir = abs_path('build') . '/bench-catchup';
my %port = (A => 12100, B => 12101);

remove_tree($dir);
make_path("$dir/A", "$dir/B");

for my $s (qw/A B/) {
    my $o = $s eq 'A' ? 'B' : 'A';
    my $user = $> == 0 ? 'user root;' : '';
    open my $f, '>', "$dir/$s/nginx.conf" or die;
    print $f <<"CONF";
load_module $stream_so;
load_module $so;
$user
pid $dir/$s/nginx.pid;
error_log $dir/$s/error.log notice;
worker_processes 2;
events { worker_connections 1024; }
stream {
    herd_zone zone=$s:64m;
    server {
        listen 127.0.0.1:$port{$s};
        herd $s zone=$s;
        herd_peer $o 127.0.0.1:$port{$o};
    }
}
CONF
    close $f;
}

sub start { system($nginx, '-p', "$dir/$_[0]/", '-c', "$dir/$_[0]/nginx.conf") == 0 or die "start $_[0]"; wait_port($port{$_[0]}); }
sub stop {
    my $pidf = "$dir/$_[0]/nginx.pid";
    return unless -f $pidf;
    chomp(my $pid = `cat $pidf`);
    kill 'QUIT', $pid;
    for (1 .. 100) { last unless kill 0, $pid; sleep 0.05; }
}
sub wait_port { for (1 .. 100) { my $s = IO::Socket::INET->new("127.0.0.1:$_[0]") and return; sleep 0.05; } die "port $_[0]"; }

sub digest {
    my ($s, $as) = @_;
    my $c = IO::Socket::INET->new("127.0.0.1:$port{$s}") or return '';
    print $c "HERD 1 $as\n";
    my $line = <$c>;
    close $c;
    return defined $line ? (split ' ', $line)[3] // '' : '';
}

start('A');
# B is down while A learns the clients
my $c = IO::Socket::INET->new("127.0.0.1:$port{A}") or die;
my $t = time;
my $batch = '';
for my $i (1 .. $n) {
    $batch .= sprintf "IAMAT client%07d.example +%d.%06d-%d.%06d %d.%09d\n",
        $i, $i % 90, $i % 1000000, $i % 180, $i % 999999, 1600000000 + $i, $i;
    if ($i % 1000 == 0 || $i == $n) { print $c $batch; $batch = ''; }
}
shutdown $c, 1;
my $answers = 0;
$answers++ while <$c>;
close $c;
printf "loaded %d clients into A in %.2f s (%d AT replies)\n", $n, time - $t, $answers;

my $da = digest('A', 'B');
$t = time;
start('B');
my $polls = 0;
while (1) {
    $polls++;
    my $db = digest('B', 'A');
    last if $db eq $da;
    die "no convergence after 60 s\n" if time - $t > 60;
    sleep 0.01;
}
my $elapsed = time - $t;
printf "B started empty and held all %d records %.3f s after its start (%d digest polls)\n",
    $n, $elapsed, $polls;

stop('A');
stop('B');
