# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_ftpshare_global_optspecs
    string join \n p/port= b/bind= u/user= password= w/write upload-only anonymous t/timeout= idle-timeout= max-transfers= once tls implicit-tls tls-cert= tls-key= require-tls-reuse no-tls-reuse passive-ports= public-host= temp keep json no-qr qr-invert q/quiet v/verbose max-connections= max-connections-per-ip= ban-after= ban-duration= max-rate= max-upload-size= quota= min-free= h/help V/version
end

function __fish_ftpshare_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_ftpshare_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_ftpshare_using_subcommand
    set -l cmd (__fish_ftpshare_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c ftpshare -n "__fish_ftpshare_needs_command" -s p -l port -d 'Control port; 0 picks a free random port' -r
complete -c ftpshare -n "__fish_ftpshare_needs_command" -s b -l bind -d 'Address to listen on, IPv4 or IPv6 [default: all interfaces]' -r
complete -c ftpshare -n "__fish_ftpshare_needs_command" -s u -l user -d 'Login name' -r
complete -c ftpshare -n "__fish_ftpshare_needs_command" -l password -d 'Fixed password instead of a generated one' -r
complete -c ftpshare -n "__fish_ftpshare_needs_command" -s t -l timeout -d 'Exit after this long (90s, 10m, 2h, 7d; a bare number is seconds; 0 = never) [default: 1h; none with a COMMAND]' -r
complete -c ftpshare -n "__fish_ftpshare_needs_command" -l idle-timeout -d 'Close control connections idle this long (0 = never)' -r
complete -c ftpshare -n "__fish_ftpshare_needs_command" -l max-transfers -d 'Exit after N completed downloads or uploads' -r
complete -c ftpshare -n "__fish_ftpshare_needs_command" -l tls-cert -d 'PEM certificate (chain) for FTPS instead of a generated one; turns on --tls unless --implicit-tls is given' -r -F
complete -c ftpshare -n "__fish_ftpshare_needs_command" -l tls-key -d 'PEM private key for --tls-cert' -r -F
complete -c ftpshare -n "__fish_ftpshare_needs_command" -l passive-ports -d 'Port range for passive data connections' -r
complete -c ftpshare -n "__fish_ftpshare_needs_command" -l public-host -d 'Address announced in PASV replies and shown in the URL (NAT, port forwarding); clients on this machine are still given its own address' -r
complete -c ftpshare -n "__fish_ftpshare_needs_command" -l max-connections -d 'Most simultaneous control connections' -r
complete -c ftpshare -n "__fish_ftpshare_needs_command" -l max-connections-per-ip -d 'Most simultaneous control connections from one address' -r
complete -c ftpshare -n "__fish_ftpshare_needs_command" -l ban-after -d 'Refuse an address for --ban-duration after this many failed logins (0 = never)' -r
complete -c ftpshare -n "__fish_ftpshare_needs_command" -l ban-duration -d 'How long a banned address is refused' -r
complete -c ftpshare -n "__fish_ftpshare_needs_command" -l max-rate -d 'Bandwidth limit per transfer, in bytes per second (2MiB, 500K, 1.5MB)' -r
complete -c ftpshare -n "__fish_ftpshare_needs_command" -l max-upload-size -d 'Largest file an upload may store; beyond it the upload is refused (552) and discarded. SIZE: 500K, 2MiB, 1G or bytes; K, M, G, T = 1000-based, KiB, MiB, GiB, TiB = 1024-based' -r
complete -c ftpshare -n "__fish_ftpshare_needs_command" -l quota -d 'Total bytes the uploads of this run may store; once used up, uploads are refused (552) and a cut-off one is discarded' -r
complete -c ftpshare -n "__fish_ftpshare_needs_command" -l min-free -d 'Refuse uploads (552) that would leave less than SIZE free on the disk; 0 = no check [default: 256MiB or 1% of the disk, whichever is smaller]' -r
complete -c ftpshare -n "__fish_ftpshare_needs_command" -s w -l write -d 'Allow uploads, new folders, renames and deletes'
complete -c ftpshare -n "__fish_ftpshare_needs_command" -l upload-only -d 'Drop box: uploads only; nothing can be listed, downloaded or replaced'
complete -c ftpshare -n "__fish_ftpshare_needs_command" -l anonymous -d 'Also accept anonymous/ftp logins (always read-only)'
complete -c ftpshare -n "__fish_ftpshare_needs_command" -l once -d 'Exit after one completed transfer (--max-transfers 1)'
complete -c ftpshare -n "__fish_ftpshare_needs_command" -l tls -d 'Explicit FTPS (AUTH TLS) with a fresh self-signed certificate; plain-text logins are refused'
complete -c ftpshare -n "__fish_ftpshare_needs_command" -l implicit-tls -d 'Implicit FTPS: TLS from the first byte (ftps:// URLs)'
complete -c ftpshare -n "__fish_ftpshare_needs_command" -l require-tls-reuse -d 'Strict FTPS: data connections must resume a TLS session of a control connection logged in as the same user from the same address (refuses clients such as Python\'s ftplib). Turns on --tls unless --implicit-tls is given'
complete -c ftpshare -n "__fish_ftpshare_needs_command" -l no-tls-reuse -d 'The default; kept so that older scripts still run'
complete -c ftpshare -n "__fish_ftpshare_needs_command" -l temp -d 'Serve a fresh temporary folder (writable), removed on exit'
complete -c ftpshare -n "__fish_ftpshare_needs_command" -l keep -d 'With --temp: keep the folder on exit'
complete -c ftpshare -n "__fish_ftpshare_needs_command" -l json -d 'Machine-readable JSON Lines events on stdout; human output goes to stderr'
complete -c ftpshare -n "__fish_ftpshare_needs_command" -l no-qr -d 'No QR code'
complete -c ftpshare -n "__fish_ftpshare_needs_command" -l qr-invert -d 'Dark-on-light QR code, for terminals with a light background'
complete -c ftpshare -n "__fish_ftpshare_needs_command" -s q -l quiet -d 'Only the essentials: no banner, no progress'
complete -c ftpshare -n "__fish_ftpshare_needs_command" -s v -l verbose -d 'Log every command (-vv: and every reply); passwords are never logged'
complete -c ftpshare -n "__fish_ftpshare_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c ftpshare -n "__fish_ftpshare_needs_command" -s V -l version -d 'Print version'
complete -c ftpshare -n "__fish_ftpshare_needs_command" -a "completions" -d 'Print a shell completion script'
complete -c ftpshare -n "__fish_ftpshare_needs_command" -a "man" -d 'Print the man page (roff)'
complete -c ftpshare -n "__fish_ftpshare_needs_command" -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c ftpshare -n "__fish_ftpshare_using_subcommand completions" -s h -l help -d 'Print help'
complete -c ftpshare -n "__fish_ftpshare_using_subcommand man" -s h -l help -d 'Print help'
complete -c ftpshare -n "__fish_ftpshare_using_subcommand help; and not __fish_seen_subcommand_from completions man help" -f -a "completions" -d 'Print a shell completion script'
complete -c ftpshare -n "__fish_ftpshare_using_subcommand help; and not __fish_seen_subcommand_from completions man help" -f -a "man" -d 'Print the man page (roff)'
complete -c ftpshare -n "__fish_ftpshare_using_subcommand help; and not __fish_seen_subcommand_from completions man help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
