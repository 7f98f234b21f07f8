package Herd::Fault;

# Helpers for the fault-injection suites (t/herd_faults.t,
# t/herd_peer_faults.t): processes and their memory from /proc, the zone
# digest computed from the records a test knows it stored, the file
# descriptor limit, and the misbehaving processes the tests set loose
# (an updater that keeps sending IAMATs through faults, a fake neighbour
# that never reads, fake Places servers).
#
# Like Herd::Util, they use only the public API of Test::Nginx objects
# (read_file, testdir) and plain sockets, so they work with the real
# nginx-tests harness and with the copy in t/lib/Test/.  Every loop is
# bounded by a deadline; every process they start is a child of the test,
# stopped by its pid (fault_reap), never by name.
#
# Exported:
#
#   fault_master($t)
#       The master's pid (from nginx.pid), undef when not running.
#
#   fault_workers($t)
#       Pids of the master's children (its workers), from /proc, sorted.
#
#   fault_wait_workers($t, $n, not => \@pids, timeout => 30)
#       Waits until the master has $n children, none of them in @pids;
#       returns them (sorted), or () on timeout.
#
#   fault_mem($pid)
#       { rss => VmRSS, anon => RssAnon } in kB from /proc/$pid/status
#       (RssAnon: private memory, without the shared zone); {} if gone.
#
#   fault_anon_kb($t)
#       The largest RssAnon (kB) among the master and its workers.
#
#   fault_hash($id, $time)
#       The 64-bit record hash of docs/protocol.md "Digests" for a client
#       id and a client time ("S[.F]"), as 16 lowercase hex digits.
#
#   fault_digest(\%records)
#       The 4096 hex digits a server with exactly these records
#       ({ client id => client time }) answers in its DIGEST line.
#
#   fault_nofile($n)
#       Makes the soft RLIMIT_NOFILE of this process at least $n if the
#       hard limit allows (children, nginx included, inherit it).
#       Returns (soft, hard) as they are afterwards.
#
#   fault_fork(sub { ... })
#       Runs the sub in a child process, which then _exit()s (no END
#       blocks, no Test::Nginx destructors in the child).  Returns its pid.
#
#   fault_wait(\@pids, timeout => 60)
#       Waits (bounded) for those children to exit by themselves, reaping
#       them; those still running then are reaped with fault_reap().  True
#       if all had exited by themselves.
#
#   fault_reap($pid, timeout => 10)
#       TERM, wait for it (bounded), KILL if it is still there.  True if
#       it exited by itself after the TERM.
#
#   fault_updater(addr => 'h:p', file => $path, prefix => 'u',
#                 stop => $path, seconds => 60, batch => 20, max => N,
#                 pause => 0, location => '+1-1', start => 1700000000)
#       Forks a client that, until the file `stop` exists (or `seconds`
#       passed, or `max` IAMATs were sent), sends IAMATs for new client
#       ids "prefix-N" (N = 1, 2, ...) with client time "start+N.5", in
#       pipelined batches (`pause` seconds between them), reconnecting
#       whenever its connection fails.  With ids => K, the ids are
#       "prefix-(N mod K)" instead: K clients updated over and over.
#       It appends to `file`, one line each: "S id time" before an IAMAT
#       is sent, "R <reply>" for each reply line received, "C" after each
#       connection failure.  Returns its pid.
#
#   fault_updates($file)
#       Parses such a file: { sent => { id => last time sent }, times =>
#       { id => { time => 1 for every time sent } }, order => [ids in the
#       order sent], replies => [lines], at => { id => last AT line
#       received, with "\n" }, failures => N }.
#
#   fault_sink(port => $port, name => 'Sink', file => $path, max => 64)
#       Forks a fake herd neighbour on 127.0.0.1:$port (a real port,
#       port(N)): it accepts links, reads the greeting line, answers
#       "DIGEST 1 <name> " and 4096 zeros, and then never reads from that
#       connection again (its receive buffer is made small, so the sender
#       notices soon).  It keeps at most `max` such connections (the
#       oldest is closed beyond that).  It appends "A <greeting>" to
#       `file` for every greeting it answered.  Returns its pid.
#
#   fault_http(port => $port, file => $path, answer => sub { ... })
#       Forks a one-connection-at-a-time HTTP server on 127.0.0.1:$port.
#       For each request (headers read to the empty line, a body of
#       Content-Length skipped), it calls answer->($socket, $request)
#       which writes whatever it likes; then the connection is closed.
#       It appends "Q <request line>" to `file` for each request and
#       whatever the answer sub returns (a string) as a line.  Returns
#       its pid.
#
#   fault_talk('h:p', $data, chunks => [1, 64], timeout => 30)
#       Like herd_raw(), but writes $data in pieces of random sizes within
#       the range given (so lines arrive split across segments) and reads
#       while writing, so a server that stops reading until its replies
#       are read (backpressure) never deadlocks the exchange.  Half-closes,
#       reads until EOF; returns everything received.
#
#   fault_lookup('h:p', \@ids, chunk => 500, timeout => 30)
#       Pipelined WHATSATs ("WHATSAT id 10 5"), `chunk` per connection:
#       { id => first line of its reply (the AT line or "? ...") }.
#
#   fault_fds($pid)
#       How many file descriptors the process has open.
#
#   fault_kill_locked($t, zone_size => $bytes, timeout => 30)
#       Kills (SIGKILL) a worker of $t at a moment it holds the mutex of
#       the shared zone of that size: stops a worker (SIGSTOP), reads the
#       lock word at the start of the zone (ngx_slab_pool_t begins with
#       the ngx_shmtx_sh_t, whose first word is the holder's pid) through
#       /proc/PID/mem, kills it if it is the holder, and otherwise lets it
#       go on (SIGCONT) and tries again a little later.  Returns
#       (pid killed, attempts), or (undef, attempts, why) when it did not
#       happen (no such zone mapping, /proc/PID/mem not readable, or the
#       timeout).

use warnings;
use strict;

use base qw/ Exporter /;
our @EXPORT = qw/
	fault_master fault_workers fault_wait_workers fault_mem fault_anon_kb
	fault_hash fault_digest fault_nofile fault_fork fault_reap
	fault_updater fault_updates fault_sink fault_http fault_talk
	fault_lookup fault_fds fault_kill_locked fault_wait
/;
our @EXPORT_OK = @EXPORT;

use Compress::Zlib qw//;
use IO::Select;
use IO::Socket::INET;
use POSIX qw/ WNOHANG /;
use Socket qw/ SOL_SOCKET SO_RCVBUF SHUT_WR /;
use Time::HiRes qw/ time sleep /;

###############################################################################

# processes

sub fault_master {
	my ($t) = @_;
	my $pid = eval { $t->read_file('nginx.pid') };
	return undef unless defined $pid && $pid =~ /(\d+)/;
	return $1;
}

sub _children {
	my ($ppid) = @_;
	my @kids;

	opendir(my $dh, '/proc') or return ();
	for my $p (grep { /^\d+$/ } readdir $dh) {
		open my $fh, '<', "/proc/$p/stat" or next;
		my $stat = <$fh>;
		close $fh;
		next unless defined $stat;

		# "pid (comm) state ppid ...": comm may hold spaces and ")"
		$stat =~ s/^.*\) //s;
		my (undef, $parent) = split / /, $stat;
		push @kids, $p if defined $parent && $parent == $ppid;
	}
	closedir $dh;

	return sort { $a <=> $b } @kids;
}

sub fault_workers {
	my ($t) = @_;
	my $master = fault_master($t);
	return () unless defined $master;
	return _children($master);
}

sub fault_wait_workers {
	my ($t, $n, %opts) = @_;
	my %not = map { $_ => 1 } @{$opts{not} // []};
	my $deadline = time() + ($opts{timeout} // 30);

	while (1) {
		my @w = fault_workers($t);
		return @w if @w == $n && !grep { $not{$_} } @w;
		return () if time() >= $deadline;
		sleep(0.05);
	}
}

sub fault_mem {
	my ($pid) = @_;
	my %m;

	open my $fh, '<', "/proc/$pid/status" or return {};
	while (my $l = <$fh>) {
		$m{rss} = $1 if $l =~ /^VmRSS:\s+(\d+) kB/;
		$m{anon} = $1 if $l =~ /^RssAnon:\s+(\d+) kB/;
	}
	close $fh;

	return \%m;
}

sub fault_anon_kb {
	my ($t) = @_;
	my $master = fault_master($t);
	return 0 unless defined $master;

	my $max = 0;
	for my $pid ($master, _children($master)) {
		my $kb = fault_mem($pid)->{anon} // 0;
		$max = $kb if $kb > $max;
	}

	return $max;
}

sub fault_fork {
	my ($code) = @_;

	my $pid = fork();
	die "Can't fork: $!\n" unless defined $pid;

	if ($pid == 0) {
		eval { $code->(); 1 } or print STDERR "child: $@";
		POSIX::_exit(0);
	}

	return $pid;
}

sub fault_wait {
	my ($pids, %opts) = @_;
	my $deadline = time() + ($opts{timeout} // 60);
	my %running = map { $_ => 1 } @$pids;

	while (%running) {
		for my $pid (keys %running) {
			delete $running{$pid} if waitpid($pid, WNOHANG) != 0;
		}
		last if !%running || time() >= $deadline;
		sleep(0.05);
	}

	fault_reap($_, timeout => 5) for keys %running;

	return !%running;
}

sub fault_reap {
	my ($pid, %opts) = @_;
	my $deadline = time() + ($opts{timeout} // 10);

	return 1 unless defined $pid;

	kill 'TERM', $pid;

	while (time() < $deadline) {
		return 1 if waitpid($pid, WNOHANG) != 0;
		sleep(0.05);
	}

	kill 'KILL', $pid;
	waitpid($pid, 0);
	return 0;
}

###############################################################################

# the digests of docs/protocol.md, in 32-bit halves: Perl's integers are
# 64 bits, but a product that overflows them turns into a float

no warnings "portable";

my $M32 = 0xffffffff;

sub _mul64 {
	my ($a, $b) = @_;
	my ($ah, $al) = ($a >> 32, $a & $M32);
	my ($bh, $bl) = ($b >> 32, $b & $M32);

	my $lo = $al * $bl;		# < 2^64: exact
	my $hi = (($lo >> 32) + (($ah * $bl) & $M32) + (($al * $bh) & $M32))
		& $M32;

	return ($hi << 32) | ($lo & $M32);
}

sub _add64 {
	my ($a, $b) = @_;
	my $lo = ($a & $M32) + ($b & $M32);
	my $hi = (($a >> 32) + ($b >> 32) + ($lo >> 32)) & $M32;
	return ($hi << 32) | ($lo & $M32);
}

sub _hash {
	my ($id, $time) = @_;

	my ($sec, $frac) = $time =~ /^(\d+)(?:\.(\d{1,9}))?$/
		or die "not a client time: $time\n";
	my $nsec = 0 + substr(($frac // '') . '000000000', 0, 9);
	$sec = 0 + $sec;

	my $prime = 0x100000001b3;
	my $h = 0xcbf29ce484222325;

	$h = _mul64($h ^ $_, $prime) for unpack('C*', $id);
	$h = _mul64($h ^ $sec, $prime);
	$h ^= $nsec;
	$h = _add64($h, 0x9e3779b97f4a7c15);
	$h = _mul64($h ^ ($h >> 30), 0xbf58476d1ce4e5b9);
	$h = _mul64($h ^ ($h >> 27), 0x94d049bb133111eb);
	$h ^= $h >> 31;

	return $h;
}

sub fault_hash {
	my ($id, $time) = @_;
	return sprintf('%016x', _hash($id, $time));
}

sub fault_digest {
	my ($records) = @_;
	my @d = (0) x 256;

	for my $id (keys %$records) {
		my $bucket = Compress::Zlib::crc32($id) >> 24;
		$d[$bucket] ^= _hash($id, $records->{$id});
	}

	return join '', map { sprintf('%016x', $_) } @d;
}

###############################################################################

# RLIMIT_NOFILE through the system calls (BSD::Resource is not core Perl)

my $RLIMIT_NOFILE = 7;		# Linux

sub _rlimit {
	my $buf = pack('QQ', 0, 0);
	my $nr = eval { require 'syscall.ph'; &SYS_getrlimit() };
	return () unless defined $nr && syscall($nr, $RLIMIT_NOFILE, $buf) == 0;
	return unpack('QQ', $buf);
}

sub fault_nofile {
	my ($n) = @_;

	my ($soft, $hard) = _rlimit();

	unless (defined $soft) {
		# no syscall.ph: what the kernel says, unchanged
		open my $fh, '<', '/proc/self/limits' or return (0, 0);
		while (my $l = <$fh>) {
			($soft, $hard) = ($1, $2)
				if $l =~ /^Max open files\s+(\d+)\s+(\d+)/;
		}
		close $fh;
		return ($soft // 0, $hard // 0);
	}

	if ($soft < $n && $hard >= $n) {
		my $nr = eval { &SYS_setrlimit() };
		my $buf = pack('QQ', $n, $hard);
		syscall($nr, $RLIMIT_NOFILE, $buf) if defined $nr;
		($soft, $hard) = _rlimit();
	}

	return ($soft, $hard);
}

###############################################################################

# clients

sub fault_talk {
	my ($addr, $data, %opts) = @_;
	my ($min, $max) = @{$opts{chunks} // [1, 64]};
	my $deadline = time() + ($opts{timeout} // 30);

	my $c = IO::Socket::INET->new(Proto => 'tcp', PeerAddr => $addr)
		or return undef;

	local $SIG{PIPE} = 'IGNORE';

	$c->blocking(0);
	my $got = '';
	my $open = 1;

	while (1) {
		my $left = $deadline - time();
		last if $left <= 0;

		my $r = IO::Select->new($c);
		my $w = IO::Select->new(length $data ? ($c) : ());
		my ($rr, $ww) = IO::Select->select($r, $w, undef, $left);

		if ($ww && @$ww && length $data) {
			my $n = $min + int(rand($max - $min + 1));
			$n = syswrite($c, $data, $n);
			if (defined $n) {
				substr($data, 0, $n, '');
			} elsif (!$!{EAGAIN} && !$!{EWOULDBLOCK} && !$!{EINTR}) {
				last;
			}
		}

		if ($open && !length $data) {
			shutdown($c, SHUT_WR);
			$open = 0;
		}

		if ($rr && @$rr) {
			my $n = sysread($c, $got, 65536, length $got);
			if (!defined $n) {
				next if $!{EAGAIN} || $!{EWOULDBLOCK} || $!{EINTR};
				last;
			}
			last if $n == 0;
		}
	}

	close $c;
	return $got;
}

sub fault_lookup {
	my ($addr, $ids, %opts) = @_;
	my $chunk = $opts{chunk} // 500;
	my %got;

	for (my $i = 0; $i < @$ids; $i += $chunk) {
		my @part = @$ids[$i .. ($i + $chunk > @$ids ? $#$ids
			: $i + $chunk - 1)];

		my $r = fault_talk($addr,
			join('', map { "WHATSAT $_ 10 5\n" } @part),
			chunks => [65536, 65536],
			timeout => $opts{timeout} // 30) // '';

		for my $id (@part) {
			my $reply;
			if ($r =~ /\A\?/) {
				($reply) = $r =~ /\A([^\n]*\n)/ or last;
			} else {
				($reply) = $r =~ /\A(.*?\n\n)/s or last;
			}
			substr($r, 0, length $reply, '');

			my ($first) = $reply =~ /\A([^\n]*\n)/;
			$got{$id} = $first;
		}
	}

	return \%got;
}

sub fault_fds {
	my ($pid) = @_;
	opendir(my $dh, "/proc/$pid/fd") or return 0;
	my $n = grep { /^\d+$/ } readdir $dh;
	closedir $dh;
	return $n;
}

###############################################################################

# a worker killed while it holds a zone's mutex

# the address of the zone's mapping; '' when the process is gone
sub _zone_start {
	my ($pid, $size) = @_;

	open my $fh, '<', "/proc/$pid/maps" or return '';
	while (my $l = <$fh>) {
		next unless $l =~ /^([0-9a-f]+)-([0-9a-f]+) rw-s /;
		my ($from, $to) = (hex $1, hex $2);
		if ($to - $from == $size) {
			close $fh;
			return $from;
		}
	}
	close $fh;

	return undef;
}

sub _state {
	my ($pid) = @_;
	open my $fh, '<', "/proc/$pid/stat" or return '';
	my $stat = <$fh> // '';
	close $fh;
	$stat =~ s/^.*\) //s;
	return (split / /, $stat)[0] // '';
}

sub fault_kill_locked {
	my ($t, %opts) = @_;
	my $deadline = time() + ($opts{timeout} // 30);
	my $tries = 0;

	while (time() < $deadline) {
		my @w = fault_workers($t);
		unless (@w) {
			sleep(0.05);
			next;
		}

		my $pid = $w[int rand @w];

		my $at = _zone_start($pid, $opts{zone_size});
		if (defined $at && $at eq '') {
			# gone meanwhile
			sleep(0.01);
			next;
		}

		return (undef, $tries, "no shared mapping of $opts{zone_size}"
			. " bytes in /proc/$pid/maps") unless defined $at;

		kill 'STOP', $pid;
		$tries++;

		my $lock;
		my $why;

		for (1 .. 1000) {
			last if _state($pid) eq 'T';
			sleep(0.001);
		}

		if (open my $mem, '<', "/proc/$pid/mem") {
			binmode $mem;
			if (sysseek($mem, $at, 0)
				&& sysread($mem, my $buf, 8) == 8)
			{
				$lock = unpack('Q', $buf);
			} else {
				$why = "reading /proc/$pid/mem: $!";
			}
			close $mem;
		} else {
			$why = "opening /proc/$pid/mem: $!";
		}

		if (defined $lock && $lock == $pid) {
			kill 'KILL', $pid;
			return ($pid, $tries);
		}

		kill 'CONT', $pid;

		# a worker that died meanwhile is no reason to give up
		return (undef, $tries, $why)
			if defined $why && _state($pid) !~ /^(?:|Z|X)$/;

		sleep(rand(0.02));
	}

	return (undef, $tries, 'timed out');
}

###############################################################################

# an updater: IAMATs for new clients, through whatever happens to its
# connections

sub fault_updater {
	my (%o) = @_;

	my $prefix = $o{prefix} // 'u';
	my $batch = $o{batch} // 20;
	my $loc = $o{location} // '+1-1';
	my $start = $o{start} // 1700000000;
	my $seconds = $o{seconds} // 60;

	return fault_fork(sub {
		$SIG{PIPE} = 'IGNORE';
		$SIG{TERM} = sub { POSIX::_exit(0) };

		open my $out, '>>', $o{file} or die "$o{file}: $!\n";
		$out->autoflush(1);

		my $deadline = time() + $seconds;
		my $n = 0;

		CONN: while (time() < $deadline && !-e $o{stop}) {
			my $c = IO::Socket::INET->new(Proto => 'tcp',
				PeerAddr => $o{addr});

			unless ($c) {
				sleep(0.05);
				next;
			}

			$c->blocking(0);
			my $sel = IO::Select->new($c);

			while (time() < $deadline && !-e $o{stop}) {
				my $data = '';

				last CONN if defined $o{max} && $n >= $o{max};

				for (1 .. $batch) {
					last if defined $o{max} && $n >= $o{max};
					$n++;
					my $id = "$prefix-"
						. ($o{ids} ? $n % $o{ids} : $n);
					my $time = ($start + $n) . '.5';
					print $out "S $id $time\n";
					$data .= "IAMAT $id $loc $time\n";
				}

				my $ok = _send_all($c, $sel, $data, 10);
				my $want = () = $data =~ /\n/g;
				my ($got, $lines) = _read_lines($c, $sel, $want,
					10);

				print $out "R $_" for @$lines;

				unless ($ok && $got == $want) {
					print $out "C\n";
					close $c;
					sleep(0.02);
					next CONN;
				}

				sleep($o{pause}) if $o{pause};
			}

			close $c;
		}

		close $out;
	});
}

sub _send_all {
	my ($c, $sel, $data, $timeout) = @_;
	my $deadline = time() + $timeout;

	while (length $data) {
		my $left = $deadline - time();
		return 0 if $left <= 0 || !$sel->can_write($left);

		my $n = $c->syswrite($data);
		if (!defined $n) {
			next if $!{EAGAIN} || $!{EWOULDBLOCK} || $!{EINTR};
			return 0;
		}
		substr($data, 0, $n, '');
	}

	return 1;
}

# up to $want lines; (count, [lines]) - fewer on EOF, error or timeout
sub _read_lines {
	my ($c, $sel, $want, $timeout) = @_;
	my $deadline = time() + $timeout;
	my ($buf, @lines) = ('');

	while (@lines < $want) {
		my $left = $deadline - time();
		last if $left <= 0 || !$sel->can_read($left);

		my $n = $c->sysread($buf, 65536, length $buf);
		if (!defined $n) {
			next if $!{EAGAIN} || $!{EWOULDBLOCK} || $!{EINTR};
			last;
		}
		last if $n == 0;

		while ($buf =~ s/\A([^\n]*\n)//) {
			push @lines, $1;
		}
	}

	return (scalar @lines, \@lines);
}

sub fault_updates {
	my ($file) = @_;
	my %u = (sent => {}, order => [], replies => [], at => {},
		times => {}, failures => 0);

	open my $fh, '<', $file or return \%u;
	while (my $l = <$fh>) {
		if ($l =~ /^S (\S+) (\S+)$/) {
			$u{sent}{$1} = $2;
			$u{times}{$1}{$2} = 1;
			push @{$u{order}}, $1;
		} elsif ($l =~ /^R (.*\n)\z/s) {
			my $reply = $1;
			push @{$u{replies}}, $reply;
			$u{at}{$1} = $reply if $reply =~ /^AT \S+ \S+ (\S+) /;
		} elsif ($l =~ /^C$/) {
			$u{failures}++;
		}
	}
	close $fh;

	return \%u;
}

###############################################################################

# a neighbour that takes the link and never reads it

sub fault_sink {
	my (%o) = @_;
	my $name = $o{name} // 'Sink';
	my $max = $o{max} // 64;

	# listening before the fork: the herd may connect at once
	my $l = IO::Socket::INET->new(Proto => 'tcp', Listen => 128,
		LocalAddr => "127.0.0.1:$o{port}", ReuseAddr => 1,
		Blocking => 0)
		or die "Can't listen on 127.0.0.1:$o{port}: $!\n";

	# accepted sockets inherit it: the window closes after a few KB
	setsockopt($l, SOL_SOCKET, SO_RCVBUF, 4096);

	my $pid = fault_fork(sub {
		$SIG{PIPE} = 'IGNORE';
		$SIG{TERM} = sub { POSIX::_exit(0) };

		open my $out, '>>', $o{file} or die "$o{file}: $!\n";
		$out->autoflush(1);

		my $digest = "DIGEST 1 $name " . ('0' x 4096) . "\n";
		my (%greeting, @mute);
		my $sel = IO::Select->new($l);

		while (1) {
			for my $s ($sel->can_read(1)) {
				if ($s == $l) {
					my $c = $l->accept() or next;
					$c->blocking(0);
					$greeting{$c} = '';
					$sel->add($c);
					next;
				}

				my $n = $s->sysread($greeting{$s}, 4096,
					length $greeting{$s});

				if (!$n) {
					next if !defined $n && $!{EAGAIN};
					delete $greeting{$s};
					$sel->remove($s);
					close $s;
					next;
				}

				next unless $greeting{$s} =~ /\A([^\n]*)\n/;
				print $out "A $1\n";

				# answered; never read again
				$s->syswrite($digest);
				delete $greeting{$s};
				$sel->remove($s);
				push @mute, $s;
				close(shift @mute) while @mute > $max;
			}
		}
	});

	close $l;
	return $pid;
}

###############################################################################

# a fake Places API that misbehaves as told

sub fault_http {
	my (%o) = @_;

	my $l = IO::Socket::INET->new(Proto => 'tcp', Listen => 128,
		LocalAddr => "127.0.0.1:$o{port}", ReuseAddr => 1)
		or die "Can't listen on 127.0.0.1:$o{port}: $!\n";

	my $pid = fault_fork(sub {
		$SIG{PIPE} = 'IGNORE';
		$SIG{TERM} = sub { POSIX::_exit(0) };

		open my $out, '>>', $o{file} or die "$o{file}: $!\n";
		$out->autoflush(1);

		while (1) {
			my $c = $l->accept() or next;
			my $req = '';

			my $sel = IO::Select->new($c);
			while ($req !~ /\r?\n\r?\n/ && $sel->can_read(5)) {
				my $n = $c->sysread($req, 4096, length $req);
				last unless $n;
			}

			if ($req =~ /^Content-Length:\s*(\d+)/mi) {
				my $len = $1;
				my ($body) = $req =~ /\r?\n\r?\n(.*)\z/s;
				$len -= length($body // '');
				while ($len > 0 && $sel->can_read(5)) {
					my $n = $c->sysread(my $b, $len);
					last unless $n;
					$len -= $n;
				}
			}

			my ($line) = $req =~ /\A([^\r\n]*)/;
			print $out "Q ", ($line // ''), "\n";

			my $note = eval { $o{answer}->($c, $req) };
			print $out "$note\n" if defined $note;
			print $out "died: $@" if $@;

			close $c;
		}
	});

	close $l;
	return $pid;
}

1;
