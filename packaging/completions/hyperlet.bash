# bash completion for hyperlet (installed as
# /usr/share/bash-completion/completions/hyperlet). Options after APP are the
# app's own, so completion stops offering hyperlet's once APP is given.
# tests/toolchain/deb.sh checks that every option `hyperlet CMD --help` lists is here.

_hyperlet() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
  local commands="run snapshot inspect manifest pack bench"
  local run_options="--memory --address-space --cpus --processes --env --env-file --volume --workdir --hostname --name --publish --allow-connect
    --stop-timeout --timeout --syscall-entry --trace --trace-file --quiet --no-seccomp --stats --help --help-all"
  local command="" i word app_given=0
  for ((i = 1; i < COMP_CWORD; i++)); do
    word=${COMP_WORDS[i]}
    if [[ -z $command ]]; then
      [[ $word != -* ]] && command=$word
      continue
    fi
    case $word in
      # Options that take a value: skip it.
      -m | --memory | --address-space | --cpus | --processes | -e | --env | --env-file | -v | --volume | -w | --workdir | --hostname | --name | -p | \
        --publish | --allow-connect | --stop-timeout | --timeout | --syscall-entry | --trace-file | --restore | \
        -o | --output | --at-syscall | --arg | --unset-env | --port)
        ((i++))
        ;;
      --) ;;
      -*) ;;
      *) app_given=1 ;;
    esac
  done
  if [[ -z $command ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$commands --help --help-all --version" -- "$cur")
    return
  fi
  # APP's own arguments: files, as for any program.
  if ((app_given)); then
    mapfile -t COMPREPLY < <(compgen -f -- "$cur")
    return
  fi
  case $prev in
    --trace-file | --env-file | --restore | -o | --output)
      mapfile -t COMPREPLY < <(compgen -f -- "$cur")
      return
      ;;
    -v | --volume)
      mapfile -t COMPREPLY < <(compgen -d -- "$cur")
      return
      ;;
    --syscall-entry)
      mapfile -t COMPREPLY < <(compgen -W "auto syscall trap" -- "$cur")
      return
      ;;
    --at-syscall)
      mapfile -t COMPREPLY < <(compgen -W "accept4 accept epoll_wait epoll_pwait read recvfrom" -- "$cur")
      return
      ;;
    -m | --memory | --address-space | --cpus | --processes | -e | --env | -w | --workdir | --hostname | --name | -p | --publish | --allow-connect | \
      --stop-timeout | --timeout | --arg | --unset-env | --port)
      return
      ;;
  esac
  local options
  case $command in
    run) options="$run_options --restore --exit-on-ready" ;;
    snapshot) options="$run_options --output --at-syscall" ;;
    inspect) options="--json --help --help-all" ;;
    manifest) options="--memory --address-space --env --unset-env --arg --no-args --reset --volume --unset-volume --publish --unset-publish --allow-connect --unset-allow-connect --file --unset-file --cpus --unset-cpus --workdir --unset-workdir --hostname --unset-hostname --help --help-all" ;;
    pack) options="--output --name --port --volume --workdir --help --help-all" ;;
    bench) options="--help --help-all" ;;
  esac
  if [[ $cur == -* ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$options" -- "$cur")
  else
    mapfile -t COMPREPLY < <(compgen -f -- "$cur")
  fi
}
complete -o filenames -F _hyperlet hyperlet
