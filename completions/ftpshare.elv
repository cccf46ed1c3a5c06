
use builtin;
use str;

set edit:completion:arg-completer[ftpshare] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'ftpshare'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'ftpshare'= {
            cand -p 'Control port; 0 picks a free random port'
            cand --port 'Control port; 0 picks a free random port'
            cand -b 'Address to listen on, IPv4 or IPv6 [default: all interfaces]'
            cand --bind 'Address to listen on, IPv4 or IPv6 [default: all interfaces]'
            cand -u 'Login name'
            cand --user 'Login name'
            cand --password 'Fixed password instead of a generated one'
            cand -t 'Exit after this long (90s, 10m, 2h, 7d; a bare number is seconds; 0 = never) [default: 1h; none with a COMMAND]'
            cand --timeout 'Exit after this long (90s, 10m, 2h, 7d; a bare number is seconds; 0 = never) [default: 1h; none with a COMMAND]'
            cand --idle-timeout 'Close control connections idle this long (0 = never)'
            cand --max-transfers 'Exit after N completed downloads or uploads'
            cand --tls-cert 'PEM certificate (chain) for FTPS instead of a generated one; turns on --tls unless --implicit-tls is given'
            cand --tls-key 'PEM private key for --tls-cert'
            cand --passive-ports 'Port range for passive data connections'
            cand --public-host 'Address announced in PASV replies and shown in the URL (NAT, port forwarding); clients on this machine are still given its own address'
            cand --max-connections 'Most simultaneous control connections'
            cand --max-connections-per-ip 'Most simultaneous control connections from one address'
            cand --ban-after 'Refuse an address for --ban-duration after this many failed logins (0 = never)'
            cand --ban-duration 'How long a banned address is refused'
            cand --max-rate 'Bandwidth limit per transfer, in bytes per second (2MiB, 500K, 1.5MB)'
            cand --max-upload-size 'Largest file an upload may store; beyond it the upload is refused (552) and discarded. SIZE: 500K, 2MiB, 1G or bytes; K, M, G, T = 1000-based, KiB, MiB, GiB, TiB = 1024-based'
            cand --quota 'Total bytes the uploads of this run may store; once used up, uploads are refused (552) and a cut-off one is discarded'
            cand --min-free 'Refuse uploads (552) that would leave less than SIZE free on the disk; 0 = no check [default: 256MiB or 1% of the disk, whichever is smaller]'
            cand -w 'Allow uploads, new folders, renames and deletes'
            cand --write 'Allow uploads, new folders, renames and deletes'
            cand --upload-only 'Drop box: uploads only; nothing can be listed, downloaded or replaced'
            cand --anonymous 'Also accept anonymous/ftp logins (always read-only)'
            cand --once 'Exit after one completed transfer (--max-transfers 1)'
            cand --tls 'Explicit FTPS (AUTH TLS) with a fresh self-signed certificate; plain-text logins are refused'
            cand --implicit-tls 'Implicit FTPS: TLS from the first byte (ftps:// URLs)'
            cand --require-tls-reuse 'Strict FTPS: data connections must resume a TLS session of a control connection logged in as the same user from the same address (refuses clients such as Python''s ftplib). Turns on --tls unless --implicit-tls is given'
            cand --no-tls-reuse 'The default; kept so that older scripts still run'
            cand --temp 'Serve a fresh temporary folder (writable), removed on exit'
            cand --keep 'With --temp: keep the folder on exit'
            cand --json 'Machine-readable JSON Lines events on stdout; human output goes to stderr'
            cand --no-qr 'No QR code'
            cand --qr-invert 'Dark-on-light QR code, for terminals with a light background'
            cand -q 'Only the essentials: no banner, no progress'
            cand --quiet 'Only the essentials: no banner, no progress'
            cand -v 'Log every command (-vv: and every reply); passwords are never logged'
            cand --verbose 'Log every command (-vv: and every reply); passwords are never logged'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand completions 'Print a shell completion script'
            cand man 'Print the man page (roff)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'ftpshare;completions'= {
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'ftpshare;man'= {
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'ftpshare;help'= {
            cand completions 'Print a shell completion script'
            cand man 'Print the man page (roff)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'ftpshare;help;completions'= {
        }
        &'ftpshare;help;man'= {
        }
        &'ftpshare;help;help'= {
        }
    ]
    $completions[$command]
}
