
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'ftpshare' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'ftpshare'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'ftpshare' {
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Control port; 0 picks a free random port')
            [CompletionResult]::new('--port', '--port', [CompletionResultType]::ParameterName, 'Control port; 0 picks a free random port')
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'Address to listen on, IPv4 or IPv6 [default: all interfaces]')
            [CompletionResult]::new('--bind', '--bind', [CompletionResultType]::ParameterName, 'Address to listen on, IPv4 or IPv6 [default: all interfaces]')
            [CompletionResult]::new('-u', '-u', [CompletionResultType]::ParameterName, 'Login name')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'Login name')
            [CompletionResult]::new('--password', '--password', [CompletionResultType]::ParameterName, 'Fixed password instead of a generated one')
            [CompletionResult]::new('-t', '-t', [CompletionResultType]::ParameterName, 'Exit after this long (90s, 10m, 2h, 7d; a bare number is seconds; 0 = never) [default: 1h; none with a COMMAND]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Exit after this long (90s, 10m, 2h, 7d; a bare number is seconds; 0 = never) [default: 1h; none with a COMMAND]')
            [CompletionResult]::new('--idle-timeout', '--idle-timeout', [CompletionResultType]::ParameterName, 'Close control connections idle this long (0 = never)')
            [CompletionResult]::new('--max-transfers', '--max-transfers', [CompletionResultType]::ParameterName, 'Exit after N completed downloads or uploads')
            [CompletionResult]::new('--tls-cert', '--tls-cert', [CompletionResultType]::ParameterName, 'PEM certificate (chain) for FTPS instead of a generated one; turns on --tls unless --implicit-tls is given')
            [CompletionResult]::new('--tls-key', '--tls-key', [CompletionResultType]::ParameterName, 'PEM private key for --tls-cert')
            [CompletionResult]::new('--passive-ports', '--passive-ports', [CompletionResultType]::ParameterName, 'Port range for passive data connections')
            [CompletionResult]::new('--public-host', '--public-host', [CompletionResultType]::ParameterName, 'Address announced in PASV replies and shown in the URL (NAT, port forwarding); clients on this machine are still given its own address')
            [CompletionResult]::new('--max-connections', '--max-connections', [CompletionResultType]::ParameterName, 'Most simultaneous control connections')
            [CompletionResult]::new('--max-connections-per-ip', '--max-connections-per-ip', [CompletionResultType]::ParameterName, 'Most simultaneous control connections from one address')
            [CompletionResult]::new('--ban-after', '--ban-after', [CompletionResultType]::ParameterName, 'Refuse an address for --ban-duration after this many failed logins (0 = never)')
            [CompletionResult]::new('--ban-duration', '--ban-duration', [CompletionResultType]::ParameterName, 'How long a banned address is refused')
            [CompletionResult]::new('--max-rate', '--max-rate', [CompletionResultType]::ParameterName, 'Bandwidth limit per transfer, in bytes per second (2MiB, 500K, 1.5MB)')
            [CompletionResult]::new('--max-upload-size', '--max-upload-size', [CompletionResultType]::ParameterName, 'Largest file an upload may store; beyond it the upload is refused (552) and discarded. SIZE: 500K, 2MiB, 1G or bytes; K, M, G, T = 1000-based, KiB, MiB, GiB, TiB = 1024-based')
            [CompletionResult]::new('--quota', '--quota', [CompletionResultType]::ParameterName, 'Total bytes the uploads of this run may store; once used up, uploads are refused (552) and a cut-off one is discarded')
            [CompletionResult]::new('--min-free', '--min-free', [CompletionResultType]::ParameterName, 'Refuse uploads (552) that would leave less than SIZE free on the disk; 0 = no check [default: 256MiB or 1% of the disk, whichever is smaller]')
            [CompletionResult]::new('-w', '-w', [CompletionResultType]::ParameterName, 'Allow uploads, new folders, renames and deletes')
            [CompletionResult]::new('--write', '--write', [CompletionResultType]::ParameterName, 'Allow uploads, new folders, renames and deletes')
            [CompletionResult]::new('--upload-only', '--upload-only', [CompletionResultType]::ParameterName, 'Drop box: uploads only; nothing can be listed, downloaded or replaced')
            [CompletionResult]::new('--anonymous', '--anonymous', [CompletionResultType]::ParameterName, 'Also accept anonymous/ftp logins (always read-only)')
            [CompletionResult]::new('--once', '--once', [CompletionResultType]::ParameterName, 'Exit after one completed transfer (--max-transfers 1)')
            [CompletionResult]::new('--tls', '--tls', [CompletionResultType]::ParameterName, 'Explicit FTPS (AUTH TLS) with a fresh self-signed certificate; plain-text logins are refused')
            [CompletionResult]::new('--implicit-tls', '--implicit-tls', [CompletionResultType]::ParameterName, 'Implicit FTPS: TLS from the first byte (ftps:// URLs)')
            [CompletionResult]::new('--require-tls-reuse', '--require-tls-reuse', [CompletionResultType]::ParameterName, 'Strict FTPS: data connections must resume a TLS session of a control connection logged in as the same user from the same address (refuses clients such as Python''s ftplib). Turns on --tls unless --implicit-tls is given')
            [CompletionResult]::new('--no-tls-reuse', '--no-tls-reuse', [CompletionResultType]::ParameterName, 'The default; kept so that older scripts still run')
            [CompletionResult]::new('--temp', '--temp', [CompletionResultType]::ParameterName, 'Serve a fresh temporary folder (writable), removed on exit')
            [CompletionResult]::new('--keep', '--keep', [CompletionResultType]::ParameterName, 'With --temp: keep the folder on exit')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Machine-readable JSON Lines events on stdout; human output goes to stderr')
            [CompletionResult]::new('--no-qr', '--no-qr', [CompletionResultType]::ParameterName, 'No QR code')
            [CompletionResult]::new('--qr-invert', '--qr-invert', [CompletionResultType]::ParameterName, 'Dark-on-light QR code, for terminals with a light background')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only the essentials: no banner, no progress')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only the essentials: no banner, no progress')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log every command (-vv: and every reply); passwords are never logged')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log every command (-vv: and every reply); passwords are never logged')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('man', 'man', [CompletionResultType]::ParameterValue, 'Print the man page (roff)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'ftpshare;completions' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'ftpshare;man' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'ftpshare;help' {
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('man', 'man', [CompletionResultType]::ParameterValue, 'Print the man page (roff)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'ftpshare;help;completions' {
            break
        }
        'ftpshare;help;man' {
            break
        }
        'ftpshare;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
