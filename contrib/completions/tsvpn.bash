# bash completion for tsvpn (generated from src/cli/usage.ts by src/cli/write-docs.ts: do not edit)
# install: copy to /usr/share/bash-completion/completions/tsvpn, or source it
_tsvpn_names() {
  local f
  for f in "${TSVPN_CONTROL_DIR:-/run/tsvpn}"/*.sock; do [[ -S $f ]] && { f=${f##*/}; printf '%s\n' "${f%.sock}"; }; done 2>/dev/null
}
_tsvpn() {
  local cur=${COMP_WORDS[COMP_CWORD]}
  COMPREPLY=()
  case ${COMP_WORDS[COMP_CWORD-1]} in
    --log-level) COMPREPLY=($(compgen -W "debug info warn error" -- "$cur")); return ;;
    --log-format) COMPREPLY=($(compgen -W "text json" -- "$cur")); return ;;
    --save-keys) COMPREPLY=($(compgen -d -- "$cur")); return ;;
    --metrics-file) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    --metrics-listen) COMPREPLY=(); return ;;
  esac
  if [[ $COMP_CWORD -eq 1 ]]; then
    COMPREPLY=($(compgen -W "up down reload status events metrics diagnose demo help --help --version" -- "$cur"))
    return
  fi
  case ${COMP_WORDS[1]} in
    up)
      if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "-v --verbose --log-level --log-format --save-keys --metrics-file --metrics-listen -h --help" -- "$cur")); else COMPREPLY+=($(compgen -f -- "$cur")); fi ;;
    down)
      if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "-h --help" -- "$cur")); else COMPREPLY+=($(compgen -W "$(_tsvpn_names)" -- "$cur") $(compgen -f -X '!*.json' -- "$cur")); fi ;;
    reload)
      if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "-h --help" -- "$cur")); else COMPREPLY+=($(compgen -W "$(_tsvpn_names)" -- "$cur") $(compgen -f -X '!*.json' -- "$cur")); fi ;;
    status)
      if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "-j --json -h --help" -- "$cur")); else COMPREPLY+=($(compgen -W "$(_tsvpn_names)" -- "$cur") $(compgen -f -X '!*.json' -- "$cur")); fi ;;
    events)
      if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "-j --json -h --help" -- "$cur")); else COMPREPLY+=($(compgen -W "$(_tsvpn_names)" -- "$cur") $(compgen -f -X '!*.json' -- "$cur")); fi ;;
    metrics)
      if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "-h --help" -- "$cur")); else COMPREPLY+=($(compgen -W "$(_tsvpn_names)" -- "$cur") $(compgen -f -X '!*.json' -- "$cur")); fi ;;
    diagnose)
      if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "-j --json -h --help" -- "$cur")); else COMPREPLY+=($(compgen -W "$(_tsvpn_names)" -- "$cur") $(compgen -f -X '!*.json' -- "$cur")); fi ;;
    demo)
      if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "--keep -v --verbose -h --help" -- "$cur")); else :; fi ;;
    help) COMPREPLY=($(compgen -W "up down reload status events metrics diagnose demo" -- "$cur")) ;;
  esac
}
complete -o filenames -F _tsvpn tsvpn
