package Test::Nginx;

# A small, compatible re-implementation of the subset of nginx's own test
# harness (nginx-tests, lib/Test/Nginx.pm) that the herd test suites use.
#
# The .t files are written against the real harness; this copy exists only
# because nginx-tests cannot be installed from any package registry.  When
# NGINX_TESTS points at a real checkout, `make test` uses that instead, and
# the same .t files must pass there too.  Keep the API and the observable
# behaviour identical; do not add conveniences the real harness lacks (put
# those in t/lib/Herd/ instead).  What is left out on purpose is listed in
# the POD at the end of this file.

use warnings;
use strict;

use base qw/ Exporter /;

our @EXPORT = qw/ log_in log_out http http_get http_head port /;
our @EXPORT_OK = qw/ http_start http_end http_content /;

use File::Path qw/ rmtree /;
use File::Temp qw/ tempdir /;
use IO::Socket;
use POSIX qw/ WNOHANG /;
use Test::More qw//;

our $NGINX = defined $ENV{TEST_NGINX_BINARY}
	? $ENV{TEST_NGINX_BINARY} : '/usr/sbin/nginx';

# port number requested by a test => { port => real port, socket => lock }
our %ports;

# Features that are present only when configure said --with-...
my %with_re = (
	stream		=> qr/--with-stream(?:\s|=dynamic|$)/m,
	mail		=> qr/--with-mail(?:\s|=dynamic|$)/m,
	sni		=> qr/TLS SNI support enabled/,
	flv		=> qr/--with-http_flv_module/,
	perl		=> qr/--with-http_perl_module/,
	auth_request	=> qr/--with-http_auth_request_module/,
	realip		=> qr/--with-http_realip_module/,
	sub		=> qr/--with-http_sub_module/,
	stream_ssl	=> qr/--with-stream_ssl_module/,
);

# Features that are present unless configure said --without-...
my %without_flag = (
	http		=> qr/--without-http(?!\S)/,
	cache		=> qr/--without-http-cache/,
	pcre		=> qr/--without-pcre/,
	(map {; $_ => qr/--without-mail_${_}_module/ } qw/ pop3 imap smtp /),
	(map {; $_ => qr/--without-http_${_}_module/ } qw/
		charset gzip ssi mirror userid access auth_basic autoindex
		geo map referer rewrite proxy fastcgi uwsgi scgi grpc
		memcached limit_conn limit_req empty_gif browser
		upstream_hash upstream_ip_hash upstream_least_conn
		upstream_random upstream_keepalive upstream_zone
		split_clients
	/),
	(map {; "stream_$_" => qr/--without-stream_${_}_module/ } qw/
		access geo limit_conn map pass return set split_clients
		upstream_hash upstream_least_conn upstream_random
		upstream_zone
	/),
);

# Dynamic modules that may be loaded through TEST_NGINX_GLOBALS instead.
my %dynamic_module = (
	stream		=> 'ngx_stream_module',
	mail		=> 'ngx_mail_module',
	perl		=> 'ngx_http_perl_module',
	http_geoip	=> 'ngx_http_geoip_module',
	image_filter	=> 'ngx_http_image_filter_module',
	xslt		=> 'ngx_http_xslt_filter_module',
	stream_geoip	=> 'ngx_stream_geoip_module',
);

###############################################################################

sub new {
	my ($class) = @_;
	my $self = bless {
		_pid => $$,		# only the creating process cleans up
		_alerts => 1,
	}, ref($class) || $class || __PACKAGE__;

	# File::Temp creates the directory with mode 0700
	$self->{_testdir} = tempdir('nginx-test-XXXXXXXXXX', TMPDIR => 1)
		or die "Can't create temp directory: $!\n";

	Test::More::BAIL_OUT("no $NGINX binary found") unless -x $NGINX;

	return $self;
}

sub DESTROY {
	my ($self) = @_;
	local ($?, $!, $@);

	return unless defined $self->{_pid} && $self->{_pid} == $$;

	$self->stop();
	$self->stop_daemons();

	my $log = $self->{_testdir} . '/error.log';

	if (-e $log && Test::More->builder->expected_tests) {
		my $errors = $self->read_file('error.log');

		{
			local $Test::Nginx::TODO = 'alerts'
				unless $self->{_alerts};
			my @alerts = $errors =~ /^.+\[alert\].+$/mg;
			Test::More::is(join("\n", @alerts), '', 'no alerts');
		}

		{
			local $Test::Nginx::TODO;
			my @san = $errors =~ /^.+Sanitizer.+$/mg;
			Test::More::is(join("\n", @san), '',
				'no sanitizer errors');
		}
	}

	if ($ENV{TEST_NGINX_CATLOG} && -e $log) {
		if (open my $fh, '<', $log) {
			local $/;
			my $text = <$fh>;
			print $text if defined $text;
			close $fh;
		}
	}

	if ($ENV{TEST_NGINX_LEAVE}) {
		Test::More::diag("Leaving test directory $self->{_testdir}");
	} else {
		eval { rmtree($self->{_testdir}); };
	}
}

###############################################################################

# feature checks

sub _configure_args {
	my ($self) = @_;
	$self->{_configure_args} = `$NGINX -V 2>&1`
		unless defined $self->{_configure_args};
	return $self->{_configure_args};
}

sub has {
	my ($self, @features) = @_;

	for my $f (@features) {
		next if $self->has_module($f) || $self->has_feature($f);
		Test::More::plan(skip_all => "no $f available");
	}

	return $self;
}

sub has_module {
	my ($self, $feature) = @_;
	my $args = $self->_configure_args();

	if (my $re = $with_re{$feature}) {
		return 1 if $args =~ $re;

	} elsif ($re = $without_flag{$feature}) {
		return 1 if $args !~ $re;

	} else {
		# unknown names are regular expressions over "nginx -V"
		return 1 if $args =~ /$feature/;
	}

	my $mod = $dynamic_module{$feature};
	if (defined $mod && defined $ENV{TEST_NGINX_GLOBALS}) {
		return 1 if $ENV{TEST_NGINX_GLOBALS}
			=~ /load_module\s+[^;]*\Q$mod\E[-\w]*\.so\s*;/;
	}

	return 0;
}

sub has_feature {
	my ($self, $feature) = @_;

	return 1 if $feature =~ /^(?:symlink|unix|udp)$/;

	if ($feature =~ /^socket_ssl/) {
		return 0 unless eval { require IO::Socket::SSL; 1 };
		return 1 if $feature eq 'socket_ssl';
		return eval { IO::Socket::SSL->can_client_sni() } ? 1 : 0
			if $feature eq 'socket_ssl_sni';
		return eval { IO::Socket::SSL->can_alpn() } ? 1 : 0
			if $feature eq 'socket_ssl_alpn';
		return IO::Socket::SSL->can('get_sslversion') ? 1 : 0
			if $feature eq 'socket_ssl_sslversion';
		return IO::Socket::SSL->can('get_session_reused') ? 1 : 0
			if $feature eq 'socket_ssl_reused';
		return 0;
	}

	if ($feature =~ /^(openssl|libressl):([0-9.]+)([a-z]*)$/) {
		my ($lib, $need, $needp) = ($1, $2, $3);
		return 0 unless $self->_configure_args()
			=~ /with $lib ([0-9.]+)([a-z]*)/i;
		return _version_ge([split(/\./, $1), unpack('C*', $2)],
			[split(/\./, $need), unpack('C*', $needp)]);
	}

	return 0;
}

# true when version list $have >= version list $need
sub _version_ge {
	my ($have, $need) = @_;
	my @h = @$have;

	for my $n (@$need) {
		my $h = shift(@h) || 0;
		return 0 if $n > $h;
		return 1 if $h > $n;
	}

	return 1;
}

sub has_version {
	my ($self, $need) = @_;

	my ($v) = $self->_configure_args() =~ m!nginx version: nginx/([0-9.]+)!;
	return 0 unless defined $v;

	return _version_ge([split /\./, $v], [split /\./, $need]);
}

sub has_daemon {
	my ($self, $daemon) = @_;

	my $found = grep { -x "$_/$daemon" } split /:/, ($ENV{PATH} || '');
	Test::More::plan(skip_all => "$daemon not found") unless $found;

	return $self;
}

###############################################################################

# plan and alerts

sub plan {
	my ($self, $n) = @_;
	Test::More::plan(tests => $n + 2);
	return $self;
}

sub todo_alerts {
	my ($self) = @_;
	$self->{_alerts} = 0;
	return $self;
}

###############################################################################

# starting and stopping nginx

sub _globals_args {
	my ($self) = @_;
	my $dir = $self->{_testdir};

	# a config without %%TEST_GLOBALS%% still gets its pid and error log
	# inside the test directory
	return () if defined $self->{_test_globals};
	return ('-g', "pid $dir/nginx.pid; error_log $dir/error.log debug;");
}

sub run {
	my ($self, $conf) = @_;
	my $dir = $self->{_testdir};

	if (defined $conf) {
		open my $fh, '<', $conf or die "Can't open $conf: $!\n";
		local $/;
		my $text = <$fh>;
		close $fh;
		$self->write_file_expand('nginx.conf', $text);
	}

	my @cmd = ($NGINX, '-p', "$dir/", '-c', 'nginx.conf',
		'-e', 'error.log', @{$self->{_args} || []},
		$self->_globals_args());

	my $pid = fork();
	die "Unable to fork(): $!\n" unless defined $pid;

	if ($pid == 0) {
		{ exec { $cmd[0] } @cmd; }
		print STDERR "Unable to exec($NGINX): $!\n";
		POSIX::_exit(127);
	}

	$self->{_nginx_pid} = $pid;

	$self->waitforfile("$dir/nginx.pid", $pid)
		or die "Can't start nginx";

	$self->{_started} = 1;
	return $self;
}

sub args {
	my ($self, @args) = @_;
	$self->{_args} = \@args;
	return $self;
}

sub try_run {
	my ($self, $message) = @_;

	my $ok = eval {
		open my $olderr, '>&', \*STDERR;
		close STDERR;
		my $res = eval { $self->run(); 1 };
		my $err = $@;
		open STDERR, '>&', $olderr;
		die $err unless $res;
		1;
	};

	return $self if $ok;

	if ($ENV{TEST_NGINX_VERBOSE}) {
		if (open my $fh, '<', "$self->{_testdir}/error.log") {
			log_core($_) while <$fh>;
			close $fh;
		}
	}

	Test::More::plan(skip_all => $message);
	return $self;
}

sub _master_pid {
	my ($self) = @_;

	my $pid = eval { $self->read_file('nginx.pid') };
	if (defined $pid && $pid =~ /(\d+)/) {
		return $1;
	}

	return $self->{_nginx_pid};
}

sub reload {
	my ($self) = @_;

	return $self unless $self->{_started};

	# like the real harness: HUP only, no waiting for the new workers
	my $pid = $self->_master_pid();
	kill 'HUP', $pid if $pid;

	return $self;
}

sub stop {
	my ($self) = @_;

	return $self unless $self->{_started};

	my $pid = $self->_master_pid();

	if ($pid) {
		kill 'QUIT', $pid;

		my $gone = 0;
		for (1 .. 900) {
			$gone = waitpid($pid, WNOHANG) != 0;
			last if $gone;
			select undef, undef, undef, 0.1;
		}

		unless ($gone) {
			kill 'TERM', $pid;
			waitpid($pid, 0);
		}
	}

	$self->{_started} = 0;
	return $self;
}

sub run_daemon {
	my ($self, $code, @args) = @_;

	my $pid = fork();
	die "Can't fork daemon: $!\n" unless defined $pid;

	if ($pid == 0) {
		if (ref $code eq 'CODE') {
			eval { $code->(@args); 1 } or print STDERR $@;
		} else {
			{ exec { $code } $code, @args; }
			print STDERR "Unable to exec($code): $!\n";
		}
		exit 0;
	}

	push @{$self->{_daemons}}, $pid;
	return $self;
}

sub stop_daemons {
	my ($self) = @_;

	while ($self->{_daemons} && @{$self->{_daemons}}) {
		my $pid = shift @{$self->{_daemons}};
		kill 'TERM', $pid;

		my $gone = 0;
		for (1 .. 50) {
			$gone = waitpid($pid, WNOHANG) != 0;
			last if $gone;
			select undef, undef, undef, 0.1;
		}

		unless ($gone) {
			kill 'TERM', $pid;
			waitpid($pid, 0);
		}
	}

	return $self;
}

sub waitforfile {
	my ($self, $file, $pid) = @_;
	my $exited = 0;

	# up to 5 s; 0 when the process given exited first, undef on timeout
	for (1 .. 50) {
		return 1 if -e $file;
		return 0 if $exited;
		$exited = waitpid($pid, WNOHANG) != 0 if $pid;
		select undef, undef, undef, 0.1;
	}

	return undef;
}

sub waitforsocket {
	my ($self, $peer) = @_;

	for (1 .. 50) {
		my $s = IO::Socket::INET->new(Proto => 'tcp', PeerAddr => $peer);
		return 1 if defined $s;
		select undef, undef, undef, 0.1;
	}

	return undef;
}

###############################################################################

# ports

sub port {
	my ($num, %opts) = @_;

	unless (defined $ports{$num}) {
		# the lock is a socket of the other protocol bound to the same
		# number, held for the life of the process (and inherited by
		# forked children); the probe checks that the wanted protocol
		# can still bind there now
		my $tcp = sub {
			IO::Socket::INET->new(Proto => 'tcp',
				LocalAddr => "127.0.0.1:$_[0]",
				Listen => 1, ReuseAddr => 1);
		};
		my $udp = sub {
			IO::Socket::INET->new(Proto => 'udp',
				LocalAddr => "127.0.0.1:$_[0]");
		};
		my ($locker, $prober) = $opts{udp} ? ($tcp, $udp) : ($udp, $tcp);

		my ($port, $lock, $probe);

		for my $try (1 .. 10) {
			$port = $try == 1 ? $num
				: int($num / 500) * 500 + int(rand(500));

			$lock = $locker->($port) or next;
			$probe = $prober->($port) and last;
			undef $lock;
		}

		die "Port limit exceeded" unless $lock && $probe;

		$ports{$num} = { port => $port, socket => $lock };
	}

	return $ports{$num}{socket} if $opts{socket};
	return $ports{$num}{port};
}

###############################################################################

# files

sub testdir {
	my ($self) = @_;
	return $self->{_testdir};
}

sub read_file {
	my ($self, $name) = @_;

	open my $fh, '<', "$self->{_testdir}/$name"
		or die "Can't open $name: $!";
	local $/;
	my $content = <$fh>;
	close $fh;

	return $content;
}

sub write_file {
	my ($self, $name, $content) = @_;

	open my $fh, '>', "$self->{_testdir}/$name"
		or die "Can't create $name: $!";
	binmode $fh;
	print $fh $content;
	close $fh;

	return $self;
}

sub write_file_expand {
	my ($self, $name, $content) = @_;
	my $dir = $self->{_testdir};

	$content =~ s/%%TEST_GLOBALS%%/$self->test_globals()/ge;
	$content =~ s/%%TEST_GLOBALS_HTTP%%/$self->test_globals_http()/ge;
	$content =~ s/%%TEST_GLOBALS_STREAM%%/$self->test_globals_stream()/ge;
	$content =~ s/%%TESTDIR%%/$dir/g;

	$content =~ s/127\.0\.0\.1:(8\d\d\d)/'127.0.0.1:' . port($1)/ge;

	$content =~ s/%%PORT_(\d+)%%/port($1)/ge;
	$content =~ s/%%PORT_(\d+)_UDP%%/port($1, udp => 1)/ge;

	return $self->write_file($name, $content);
}

sub dump_config {
	my ($self) = @_;
	my $dir = $self->{_testdir};

	my @cmd = ($NGINX, '-T', '-p', "$dir/", '-c', 'nginx.conf',
		'-e', 'error.log', $self->_globals_args());

	my $pid = open(my $fh, '-|');
	die "Can't fork: $!\n" unless defined $pid;

	if ($pid == 0) {
		open STDERR, '>&', \*STDOUT;
		{ exec { $cmd[0] } @cmd; }
		POSIX::_exit(127);
	}

	local $/;
	my $out = <$fh>;
	close $fh;
	return $out;
}

sub test_globals {
	my ($self) = @_;

	return $self->{_test_globals} if defined $self->{_test_globals};

	my $dir = $self->{_testdir};
	my $s = "pid $dir/nginx.pid;\n"
		. "error_log $dir/error.log debug;\n";
	$s .= $ENV{TEST_NGINX_GLOBALS} if $ENV{TEST_NGINX_GLOBALS};

	return $self->{_test_globals} = $s;
}

sub test_globals_http {
	my ($self) = @_;

	return $self->{_test_globals_http}
		if defined $self->{_test_globals_http};

	my $dir = $self->{_testdir};
	my $s = "root $dir;\n"
		. "access_log $dir/access.log;\n"
		. "client_body_temp_path $dir/client_body_temp;\n";

	for my $m (qw/ fastcgi proxy uwsgi scgi /) {
		$s .= "${m}_temp_path $dir/${m}_temp;\n"
			if $self->has_module($m);
	}

	$s .= $ENV{TEST_NGINX_GLOBALS_HTTP} if $ENV{TEST_NGINX_GLOBALS_HTTP};

	return $self->{_test_globals_http} = $s;
}

sub test_globals_stream {
	my ($self) = @_;

	return $self->{_test_globals_stream}
		if defined $self->{_test_globals_stream};

	my $s = $ENV{TEST_NGINX_GLOBALS_STREAM} || '';

	return $self->{_test_globals_stream} = $s;
}

###############################################################################

# logging (TEST_NGINX_VERBOSE)

sub log_core {
	return unless $ENV{TEST_NGINX_VERBOSE};

	my ($prefix, $msg) = @_ == 1 ? ('', $_[0]) : @_;
	$msg = '' unless defined $msg;
	$prefix .= ' ' if length $prefix;

	if (length($msg) > 2048) {
		$msg = substr($msg, 0, 2048) . "(...logged only 2048 of "
			. length($msg) . " bytes)";
	}

	$msg =~ s/^/# $prefix/gm;
	$msg =~ s/([^\x20-\x7e\n])/sprintf('\\x%02x', ord($1))/ge;
	$msg =~ s/\n/\\x0a\n/g;
	$msg .= "\n" unless $msg =~ /\n\z/;
	print $msg;
}

sub log_out {
	log_core('>>', @_);
}

sub log_in {
	log_core('<<', @_);
}

###############################################################################

# minimal HTTP client (plain TCP only)

sub http_get {
	my ($url, %extra) = @_;
	return http("GET $url HTTP/1.0\nHost: localhost\n\n", %extra);
}

sub http_head {
	my ($url, %extra) = @_;
	return http("HEAD $url HTTP/1.0\nHost: localhost\n\n", %extra);
}

sub http {
	my ($request, %extra) = @_;

	my $s = http_start($request, %extra);
	return $s if $extra{start} || !defined $s;
	return http_end($s, %extra);
}

sub http_start {
	my ($request, %extra) = @_;
	my $s;

	my $ok = eval {
		local $SIG{ALRM} = sub { die "timeout\n" };
		local $SIG{PIPE} = sub { die "sigpipe\n" };
		alarm(8);

		my %sockopts = map { $_ => $extra{$_} }
			grep { /^[A-Z]/ } keys %extra;
		$s = $extra{socket} || IO::Socket::INET->new(
			Proto => 'tcp',
			PeerAddr => '127.0.0.1:' . port(8080),
			%sockopts
		) or die "Can't connect to nginx: $!\n";

		log_out($request);
		$s->print($request);

		select undef, undef, undef, $extra{sleep} if $extra{sleep};
		if ($extra{body}) {
			log_out($extra{body});
			$s->print($extra{body});
		}

		alarm(0);
		1;
	};
	alarm(0);

	unless ($ok) {
		log_in("died: $@");
		return undef;
	}

	return $s;
}

sub http_end {
	my ($s) = @_;
	my $reply;

	my $ok = eval {
		local $SIG{ALRM} = sub { die "timeout\n" };
		local $SIG{PIPE} = sub { die "sigpipe\n" };
		alarm(8);

		local $/;
		$reply = $s->getline();
		$s->close();

		alarm(0);
		1;
	};
	alarm(0);

	unless ($ok) {
		log_in("died: $@");
		return undef;
	}

	log_in($reply);
	return $reply;
}

sub http_content {
	my ($text) = @_;

	return undef unless defined $text;
	return undef unless $text =~ /(.*?)\x0d?\x0a\x0d?\x0a(.*)/s;

	my ($headers, $body) = ($1, $2);
	return $body unless $headers =~ /Transfer-Encoding: chunked/i;

	my ($content, $len) = ('', -1);
	while ($body =~ /\G\x0d?\x0a?([0-9a-f]+)\x0d\x0a?/gci) {
		$len = hex($1);
		$content .= substr($body, pos($body), $len);
		pos($body) += $len;
	}
	$content .= '[no-last-chunk]' if $len != 0;

	return $content;
}

###############################################################################

1;

__END__

=head1 NAME

Test::Nginx - herd's compatible subset of nginx-tests' Test::Nginx

=head1 SYNOPSIS

    use Test::Nginx;
    use Test::Nginx::Stream qw/ stream /;

    my $t = Test::Nginx->new()->has(qw/stream/)
        ->write_file_expand('nginx.conf', $conf);
    $t->run()->plan(3);

=head1 DIFFERENCES FROM THE REAL HARNESS

Deliberately left out: automatic C<load_module> lines for the modules
C<nginx -V> lists as C<=dynamic> (and the C<env PERL5LIB> line for the perl
module): pass them in TEST_NGINX_GLOBALS instead; SSL in C<http()>; the
gzip helpers; Windows and Solaris special cases.  TEST_NGINX_BINARY
defaults to F</usr/sbin/nginx> rather than F<../nginx/objs/nginx>.

=cut
