#!/usr/bin/perl
# check-names.pl — one file = one prefix (scripts/check-src.sh, rule 4).
# Every fg_* function a header declares is named after the header or after
# the .c file that defines it: fg_<stem>_... (or fg_<stem> itself).  Headers
# named *_internal.h hold folder-internal names and are not checked.  Names
# listed in scripts/check-src.names are exceptions.  Prints one line per
# violation; exits 1 if any.
use strict;
use warnings;

my %except;
if (open my $fh, '<', 'scripts/check-src.names') {
    while (<$fh>) { s/#.*//; s/\s+//g; $except{$_} = 1 if length; }
}

sub slurp { my $f = shift; open my $fh, '<', $f or die "$f: $!"; local $/; my $s = <$fh>; $s }
sub stem { my $f = shift; $f =~ s{.*/}{}; $f =~ s{\.[ch]$}{}; $f }
sub strip {
    my $s = shift;
    $s =~ s{/\*.*?\*/}{ }gs;
    $s =~ s{//[^\n]*}{}g;
    $s =~ s{^[ \t]*#[^\n]*(?:\\\n[^\n]*)*}{}gm;
    return $s;
}

# where each fg_* function is defined: a top-level line that starts with a type
my %def;
for my $c (glob 'src/*/*.c') {
    my $s = strip(slurp($c));
    while ($s =~ /^[A-Za-z_][\w \t\*]*?\b(fg_\w+)\s*\([^;{]*\)\s*(?:__attribute__\s*\(\(.*?\)\)\s*)?\{/gms) {
        $def{$1} //= stem($c);
    }
}

my $bad = 0;
for my $h (glob 'src/*/*.h') {
    next if $h =~ /_internal\.h$/;
    my $hs = stem($h);
    my ($s, $top, $depth) = (strip(slurp($h)), '', 0);
    for my $ch (split //, $s) {      # declarations at file scope only
        $depth++ if $ch eq '{';
        $top .= $ch if $depth == 0;
        $depth-- if $ch eq '}';
    }
    while ($top =~ /(?:^|[;}])\s*(?:extern\s+)?(?:static\s+inline\s+|inline\s+)?[A-Za-z_][\w\s\*]*?\b(fg_\w+)\s*\(/g) {
        my $n = $1;
        next if $except{$n};
        my @ok = ($hs, defined $def{$n} ? $def{$n} : ());
        next if grep { $n eq "fg_$_" || index($n, "fg_${_}_") == 0 } @ok;
        my $where = defined $def{$n} ? "src/.../$def{$n}.c" : 'no definition found';
        print "  $h: $n (expected fg_${hs}_* or the defining file's prefix; $where)\n";
        $bad = 1;
    }
}
exit $bad;
