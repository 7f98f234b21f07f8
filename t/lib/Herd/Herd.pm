package Herd::Herd;

# Helpers for the multi-server herd suites (t/herd_flood.t,
# t/herd_partition.t, t/herd_catchup.t): the five servers of the Goloman
# graph (PROTOCOL.md section 11), each a separate nginx started through its
# own Test::Nginx object, and polling helpers that wait for eventual
# outcomes (never for timings).
#
# Like Herd::Util, they use only the public API of Test::Nginx objects
# (new, has, write_file_expand, read_file, reload, testdir) and plain
# sockets, so they work with the real nginx-tests harness and with the copy
# in t/lib/Test/.
#
# Every server's config has, in its herd server block,
#     error_log %%TESTDIR%%/herd.log info;    (what the helpers parse)
#     error_log %%TESTDIR%%/error.log info;   (so the harness's "no alerts"
#                                              check sees the server's lines)
#
# Exported:
#
#   herd_names()            the five names, Goloman Hands Holiday Welsh Wilkes
#   herd_peers($name)       its neighbours in the Goloman graph
#   herd_edges()            the directed edges, [from, to] pairs (12)
#
#   herd_goloman($base, %opts)
#       Five Test::Nginx objects (not started), a hashref name => object;
#       server i of herd_names() listens on 127.0.0.1:(8000-block port
#       $base + i) and has herd_peer lines for its neighbours.
#       opts: workers => 2, zone => '1m'.
#
#   herd_conf($name, $base, peers => [...], workers => 2, zone => '1m')
#       The nginx.conf text (before write_file_expand) of one server; peers
#       defaults to its neighbours in the graph (pass [] to cut it off).
#
#   herd_addr($t), herd_name($t)
#       '127.0.0.1:port' and herd name of a server made by herd_goloman().
#
#   wait_for(sub { ... }, timeout => 10, interval => 0.05)
#       Calls the sub until it returns true; returns that value, or false
#       after the timeout.
#
#   herd_iamat($t, $client, $location, $time)
#       One scripted IAMAT; returns the reply (a line with its "\n").
#
#   herd_at($t, $client)
#       The first line of a WHATSAT reply for $client (with its "\n"): the
#       stored AT line, or "? WHATSAT ...\n" for an unknown client; undef
#       when the server cannot be reached.
#
#   herd_lines($herd, \@names, $client)
#       { name => herd_at(...) } now, no waiting.
#
#   herd_wait_lines($herd, \@names, $client, $expect, timeout => 20)
#       Polls herd_at() at those servers until every one answers $expect;
#       returns { name => last answer } (compare it with is_deeply()).
#
#   herd_lookup_many($t, \@clients, timeout => 20)
#       Pipelined WHATSATs on one connection: { client => first line }.
#
#   herd_digest($t)
#       The "DIGEST 1 <name> <hex>" line the server answers a neighbour's
#       greeting with (sent as its first configured neighbour; the session
#       then ends at once).  The digests cover (client, client time) of
#       every record: equal digests mean the same records up to the AT
#       line's text (compare that with herd_lookup_many()).
#
#   herd_log($t, from => $offset)
#       herd.log (from a byte offset), '' when missing.
#
#   herd_offsets($herd)
#       { name => current length of herd.log }, for the from => options.
#
#   herd_updates($herd, $line, from => { name => offset })
#       The "update from peer" log entries for the AT line $line (without
#       "\n") in every server's herd.log: a list of
#       { to => name, from => name, status => 'stored' | 'not newer' }.
#
#   herd_links_up($herd, up => \@names, from => { name => offset },
#                 timeout => 30, workers => 2)
#       Waits until, for every server S in up and every neighbour P of S in
#       up, at least `workers` processes of S logged "peer link up" for P
#       (after the offsets) and did not log "peer link down" for it since.
#       True when reached.
#
#   herd_link_ups($herd, from => { name => offset })
#       Every "peer link up" log entry after the offsets:
#       { at => name, peer => name, pid => pid, buckets => N }.
#
#   herd_reachable(\@up, $from)
#       The servers of @up that $from reaches in the graph restricted to @up
#       ($from included).
#
#   herd_reload_wait($t, timeout => 15)
#       $t->reload() (HUP), then wait, from error.log, until new workers
#       started and every previous worker exited.  True on success.
#
#   herd_time()
#       A fresh client time "S.NNNNNNNNN", larger than every earlier one.

use warnings;
use strict;

use base qw/ Exporter /;
our @EXPORT = qw/
	herd_names herd_peers herd_edges herd_goloman herd_conf
	herd_addr herd_name wait_for herd_iamat herd_at herd_lines
	herd_wait_lines herd_lookup_many herd_digest herd_log herd_offsets
	herd_updates herd_links_up herd_link_ups herd_reachable
	herd_reload_wait herd_time
/;
our @EXPORT_OK = @EXPORT;

use IO::Select;
use IO::Socket::INET;
use Scalar::Util qw/ refaddr /;
use Socket qw/ SHUT_WR /;
use Time::HiRes qw/ time sleep /;

use Test::Nginx;
use Herd::Util;

my @NAMES = qw/ Goloman Hands Holiday Welsh Wilkes /;

my %PEERS = (
	Goloman	=> [qw/ Hands Holiday Wilkes /],
	Hands	=> [qw/ Goloman Wilkes /],
	Holiday	=> [qw/ Goloman Welsh Wilkes /],
	Welsh	=> [qw/ Holiday /],
	Wilkes	=> [qw/ Goloman Hands Holiday /],
);

# refaddr of a Test::Nginx object => { name, port }
my %INFO;

sub herd_names { return @NAMES; }

sub herd_peers {
	my ($name) = @_;
	return @{$PEERS{$name}};
}

sub herd_edges {
	return map { my $x = $_; map { [$x, $_] } @{$PEERS{$x}} } @NAMES;
}

sub _port_of {
	my ($name, $base) = @_;
	for my $i (0 .. $#NAMES) {
		return $base + $i if $NAMES[$i] eq $name;
	}
	die "no herd server $name\n";
}

sub herd_conf {
	my ($name, $base, %opts) = @_;

	my $peers = $opts{peers} // $PEERS{$name};
	my $workers = $opts{workers} // 2;
	my $size = $opts{zone} // '1m';
	my $port = _port_of($name, $base);

	my $lines = join '', map {
		"        herd_peer $_ 127.0.0.1:" . _port_of($_, $base) . ";\n"
	} @$peers;

	return <<"EOF";

%%TEST_GLOBALS%%

daemon off;
worker_processes $workers;

events {
}

stream {
    %%TEST_GLOBALS_STREAM%%

    herd_zone zone=$name:$size;

    server {
        listen 127.0.0.1:$port;
        herd $name zone=$name;

$lines
        error_log %%TESTDIR%%/herd.log info;
        error_log %%TESTDIR%%/error.log info;
    }
}

EOF
}

sub herd_goloman {
	my ($base, %opts) = @_;
	my %herd;

	for my $name (@NAMES) {
		my $t = Test::Nginx->new()->has(qw/stream/)
			->write_file_expand('nginx.conf',
				herd_conf($name, $base, %opts));

		$INFO{refaddr $t} = {
			name => $name,
			port => port(_port_of($name, $base)),
		};

		$herd{$name} = $t;
	}

	return \%herd;
}

sub herd_addr {
	my ($t) = @_;
	return '127.0.0.1:' . $INFO{refaddr $t}{port};
}

sub herd_name {
	my ($t) = @_;
	return $INFO{refaddr $t}{name};
}

sub wait_for {
	my ($code, %opts) = @_;
	my $deadline = time() + ($opts{timeout} // 10);
	my $interval = $opts{interval} // 0.05;

	while (1) {
		my $r = $code->();
		return $r if $r;
		return 0 if time() >= $deadline;
		sleep($interval);
	}
}

{
	my $clock = 1600000000;

	sub herd_time {
		$clock++;
		return sprintf('%d.%09d', $clock, 123456789);
	}
}

sub herd_iamat {
	my ($t, $client, $location, $time) = @_;
	return herd_chat(herd_addr($t), "IAMAT $client $location $time");
}

sub herd_at {
	my ($t, $client) = @_;

	my $r = herd_chat(herd_addr($t), "WHATSAT $client 10 5");
	return undef unless defined $r && $r =~ /\A([^\n]*\n)/;
	return $1;
}

sub herd_lines {
	my ($herd, $names, $client) = @_;
	return { map { $_ => herd_at($herd->{$_}, $client) } @$names };
}

sub herd_wait_lines {
	my ($herd, $names, $client, $expect, %opts) = @_;
	my %last;

	wait_for(sub {
		my $all = 1;
		for my $name (@$names) {
			next if defined $last{$name} && $last{$name} eq $expect;
			$last{$name} = herd_at($herd->{$name}, $client);
			$all = 0 unless defined $last{$name}
				&& $last{$name} eq $expect;
		}
		return $all;
	}, timeout => $opts{timeout} // 20);

	return \%last;
}

sub herd_lookup_many {
	my ($t, $clients, %opts) = @_;

	my $data = join '', map { "WHATSAT $_ 10 5\n" } @$clients;
	my $r = herd_raw(herd_addr($t), $data,
		timeout => $opts{timeout} // 20) // '';

	my %got;
	my $i = 0;

	while (length $r && $i < @$clients) {
		my $reply;
		if ($r =~ /\A\?/) {
			($reply) = $r =~ /\A([^\n]*\n)/ or last;
		} else {
			($reply) = $r =~ /\A(.*?\n\n)/s or last;
		}
		substr($r, 0, length $reply, '');

		my ($first) = $reply =~ /\A([^\n]*\n)/;
		$got{$clients->[$i++]} = $first;
	}

	return \%got;
}

sub herd_digest {
	my ($t) = @_;
	my $as = $PEERS{herd_name($t)}[0];

	my $r = herd_raw(herd_addr($t), "HERD 1 $as\n", timeout => 5);
	return $r;
}

sub herd_log {
	my ($t, %opts) = @_;
	my $log = eval { $t->read_file('herd.log') } // '';
	my $from = $opts{from} // 0;
	return length($log) > $from ? substr($log, $from) : '';
}

sub herd_offsets {
	my ($herd) = @_;
	return { map { $_ => length(herd_log($herd->{$_})) } keys %$herd };
}

sub herd_updates {
	my ($herd, $line, %opts) = @_;
	my @u;

	for my $name (sort keys %$herd) {
		my $log = herd_log($herd->{$name},
			from => ($opts{from} || {})->{$name});

		while ($log =~ /herd (\S+): update from peer "([^"]*)" (stored|not newer):? "([^"]*)"/g) {
			next unless $4 eq $line;
			push @u, { to => $1, from => $2, status => $3 };
		}
	}

	return @u;
}

sub herd_link_ups {
	my ($herd, %opts) = @_;
	my @ups;

	for my $name (sort keys %$herd) {
		my $log = herd_log($herd->{$name},
			from => ($opts{from} || {})->{$name});

		while ($log =~ /^.* (\d+)#\d+: .*?herd \S+: peer link up, (\d+) of \d+ buckets to catch up.*, peer: "([^"]*)"/mg) {
			push @ups, { at => $name, pid => $1, buckets => $2,
				peer => $3 };
		}
	}

	return @ups;
}

sub _links_ready {
	my ($herd, $up, $from, $workers) = @_;
	my %running = map { $_ => 1 } @$up;

	for my $name (@$up) {
		my $log = herd_log($herd->{$name}, from => $from->{$name});
		my %state;

		while ($log =~ /^.* (\d+)#\d+: .*?herd \S+: peer link (up|down).*, peer: "([^"]*)"/mg) {
			$state{$3}{$1} = $2;
		}

		for my $peer (@{$PEERS{$name}}) {
			next unless $running{$peer};
			my $n = grep { $_ eq 'up' } values %{$state{$peer} || {}};
			return 0 if $n < $workers;
		}
	}

	return 1;
}

sub herd_links_up {
	my ($herd, %opts) = @_;
	my $up = $opts{up} // [ sort keys %$herd ];
	my $from = $opts{from} // {};
	my $workers = $opts{workers} // 2;

	return wait_for(sub { _links_ready($herd, $up, $from, $workers) },
		timeout => $opts{timeout} // 30, interval => 0.1);
}

sub herd_reachable {
	my ($up, $from) = @_;
	my %up = map { $_ => 1 } @$up;
	my %seen = ($from => 1);
	my @todo = ($from);

	while (@todo) {
		my $n = shift @todo;
		for my $p (@{$PEERS{$n}}) {
			next if !$up{$p} || $seen{$p}++;
			push @todo, $p;
		}
	}

	return grep { $seen{$_} } @NAMES;
}

sub _workers_in {
	my ($log) = @_;
	my %alive;

	while ($log =~ /start worker process (\d+)|worker process (\d+) exited/g)
	{
		if (defined $1) {
			$alive{$1} = 1;
		} else {
			delete $alive{$2};
		}
	}

	return keys %alive;
}

sub herd_reload_wait {
	my ($t, %opts) = @_;
	my $deadline = time() + ($opts{timeout} // 15);

	my $log = eval { $t->read_file('error.log') } // '';
	my $from = length $log;
	my @old = _workers_in($log);

	$t->reload();

	while (1) {
		$log = eval { $t->read_file('error.log') } // '';
		my $tail = length($log) > $from ? substr($log, $from) : '';

		if ($tail =~ /reconfiguring/) {
			my $after = substr($tail, $-[0]);
			return 0 if $after =~ /\[emerg\]/;

			my $gone = grep { $after =~ /worker process $_ exited/ }
				@old;

			return 1 if $gone == @old
				&& $after =~ /start worker process \d+/;
		}

		return 0 if time() >= $deadline;
		sleep(0.05);
	}
}

1;
