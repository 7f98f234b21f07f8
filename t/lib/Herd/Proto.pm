package Herd::Proto;

# Protocol-level helpers for the herd client-protocol suites
# (t/herd_iamat.t, t/herd_whatsat.t, t/herd_framing.t), on top of
# Herd::Util.  Like Herd::Util, they use only the public API of
# Test::Nginx::Stream objects, so they work with the real nginx-tests
# harness and with the copy in t/lib/Test/.
#
# Exported:
#
#   herd_ask($s, $data, timeout => 3)
#       $s->write($data), then herd_line($s): the next reply line.
#
#   herd_ask_reply($s, $data, timeout => 3)
#       $s->write($data), then herd_reply($s): data up to the first "\n\n"
#       (a whole WHATSAT reply).
#
#   herd_read_eof($s, timeout => 5)
#       Everything until EOF (bytes Herd::Util kept buffered first); in list
#       context (data, eof) where eof is true only when the server closed
#       the connection (false on timeout).
#
#   herd_half_close($s)
#       shutdown(SHUT_WR) on the client socket: "I will send no more".
#
#   herd_no_key_json()
#       The JSON text a herd server without a Places API key answers to a
#       WHATSAT for a known client (between the AT line and the final
#       "\n\n"), byte for byte.
#
#   herd_now_ns()
#       The current time in integer nanoseconds as a Math::BigInt.
#
#   herd_ns($decimal)
#       "S[.F]" seconds (the protocol's client time or a time diff without
#       its sign) as integer nanoseconds in a Math::BigInt; signed input
#       ("+S.F", "-S.F") is accepted too.

use warnings;
use strict;

use base qw/ Exporter /;
our @EXPORT = qw/
	herd_ask herd_ask_reply herd_read_eof herd_half_close
	herd_no_key_json herd_now_ns herd_ns
/;
our @EXPORT_OK = @EXPORT;

use Math::BigInt;
use Socket qw/ SHUT_WR /;
use Time::HiRes qw/ time /;

use Herd::Util;

sub herd_ask {
	my ($s, $data, %opts) = @_;
	$s->write($data);
	return herd_line($s, %opts);
}

sub herd_ask_reply {
	my ($s, $data, %opts) = @_;
	$s->write($data);
	return herd_reply($s, %opts);
}

sub herd_read_eof {
	my ($s, %opts) = @_;
	my $deadline = time() + ($opts{timeout} // 5);

	my $got = defined $s->{herd_buf} ? $s->{herd_buf} : '';
	$s->{herd_buf} = '';
	my $eof = $s->{herd_eof} ? 1 : 0;

	while (!$eof) {
		my $left = $deadline - time();
		last if $left <= 0;
		$left = 0.01 if $left < 0.01;

		my $buf = $s->read(read_timeout => $left);
		last unless defined $buf;

		if (length $buf) {
			$got .= $buf;
		} else {
			$eof = 1;
			$s->{herd_eof} = 1;
		}
	}

	return wantarray ? ($got, $eof) : $got;
}

sub herd_half_close {
	my ($s) = @_;
	return shutdown($s->socket(), SHUT_WR);
}

sub herd_no_key_json {
	return "{\n"
		. "   \"error_message\" : "
		. "\"No Places API key is configured on this herd server\",\n"
		. "   \"html_attributions\" : [],\n"
		. "   \"results\" : [],\n"
		. "   \"status\" : \"REQUEST_DENIED\"\n"
		. "}";
}

sub herd_ns {
	my ($d) = @_;
	my ($sign, $int, $frac) = $d =~ /^([+-]?)(\d+)(?:\.(\d{1,9}))?$/
		or die "not a decimal: $d\n";
	$frac = '' unless defined $frac;
	my $ns = Math::BigInt->new($int)->bmul(1_000_000_000)
		->badd(Math::BigInt->new(($frac . '0' x 9) =~ s/^(\d{9}).*/$1/r
			=~ s/^0+(?=\d)//r));
	return $sign eq '-' ? $ns->bneg() : $ns;
}

sub herd_now_ns {
	my $t = sprintf('%.6f', time());
	return herd_ns($t);
}

1;
