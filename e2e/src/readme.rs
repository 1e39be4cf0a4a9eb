//! README doc tests: the shell blocks of a Markdown file, marked as steps of a walkthrough,
//! run verbatim and in order, one command at a time, as a user would type them.
//!
//! A fenced `sh` block is a step of the walkthrough named `<name>` when the line right before
//! its fence is an HTML comment `<!-- <name>: <mode> -->`:
//!
//! - `run`: every command of the block runs in turn and must exit 0;
//! - `background until=<url>`: the block's one command starts in the background (as in
//!   "runs in the foreground; in another terminal: ..."), and the walkthrough goes on once
//!   `<url>` answers with a 2xx status;
//! - `skip <reason>`: the block is not run (for example: it needs a real cluster); the reason
//!   stays visible in the Markdown source.
//!
//! `<!-- <name>: expect <text> -->` after a block requires `<text>` in what that block
//! printed. Every `sh` block between `<!-- <name>: begin -->` and `<!-- <name>: end -->`
//! must carry one of the modes, so leaving a block out is a visible choice.
//!
//! Commands run in `bash -c`, one logical line at a time (a trailing `\` joins lines); the
//! working directory and exported variables carry over from one command to the next, as in
//! one terminal. A failing command is reported with the Markdown line it starts on.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{Error, Result};

/// How a marked block takes part in the walkthrough.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Run every command; each must succeed.
    Run,
    /// Start the block's command in the background; go on once the URL answers 2xx.
    Background {
        /// What must answer before the walkthrough goes on.
        until: String,
    },
    /// Not run, for the reason given.
    Skip {
        /// Why the block is not run.
        reason: String,
    },
}

/// One command of a block: its text (continuation lines joined) and its line in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocCommand {
    /// 1-based line of the Markdown file the command starts on.
    pub line: usize,
    /// The command as written (continuation lines kept, with their backslashes).
    pub text: String,
}

/// A marked `sh` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// 1-based line of the opening fence.
    pub line: usize,
    /// How the block is used.
    pub mode: Mode,
    /// Its commands, in order (comments and blank lines dropped).
    pub commands: Vec<DocCommand>,
    /// Texts the block's output must contain (`expect` markers after it).
    pub expect: Vec<String>,
}

/// The steps named `name` in `markdown` (the text of `file`, named in errors).
pub fn steps(file: &str, markdown: &str, name: &str) -> Result<Vec<Step>> {
    let marker = format!("<!-- {name}:");
    let lines: Vec<&str> = markdown.lines().collect();
    let mut steps: Vec<Step> = Vec::new();
    let mut inside = false;
    let mut seen_begin = false;
    let mut index = 0;
    while index < lines.len() {
        let line = lines[index].trim();
        let number = index + 1;
        if let Some(body) = line
            .strip_prefix(&marker)
            .and_then(|rest| rest.strip_suffix("-->"))
        {
            let body = body.trim();
            match body.split_once(' ').unwrap_or((body, "")) {
                ("begin", _) => {
                    inside = true;
                    seen_begin = true;
                }
                ("end", _) => inside = false,
                ("expect", text) => match steps.last_mut() {
                    Some(step) if !text.trim().is_empty() => step.expect.push(text.trim().into()),
                    _ => {
                        return Err(malformed(
                            file,
                            number,
                            "expect needs a block before it and a text",
                        ));
                    }
                },
                (mode, rest) => {
                    let mode = parse_mode(file, number, mode, rest.trim())?;
                    let fence = index + 1;
                    if lines.get(fence).map(|l| l.trim()) != Some("```sh") {
                        return Err(malformed(
                            file,
                            number,
                            "a mode marker must be followed by a ```sh block",
                        ));
                    }
                    let (commands, close) = block_commands(file, &lines, fence)?;
                    if let Mode::Background { .. } = mode
                        && commands.len() != 1
                    {
                        return Err(malformed(
                            file,
                            number,
                            "a background block holds exactly one command",
                        ));
                    }
                    steps.push(Step {
                        line: fence + 1,
                        mode,
                        commands,
                        expect: Vec::new(),
                    });
                    index = close + 1;
                    continue;
                }
            }
        } else if inside && line.starts_with("```sh") {
            return Err(malformed(
                file,
                number,
                &format!("this sh block has no `<!-- {name}: run|background|skip -->` marker"),
            ));
        }
        index += 1;
    }
    if !seen_begin {
        return Err(malformed(
            file,
            0,
            &format!("no `<!-- {name}: begin -->` marker"),
        ));
    }
    Ok(steps)
}

fn parse_mode(file: &str, line: usize, mode: &str, rest: &str) -> Result<Mode> {
    match mode {
        "run" if rest.is_empty() => Ok(Mode::Run),
        "background" => match rest.strip_prefix("until=") {
            Some(url) if !url.is_empty() => Ok(Mode::Background { until: url.into() }),
            _ => Err(malformed(file, line, "background needs until=<url>")),
        },
        "skip" if !rest.is_empty() => Ok(Mode::Skip {
            reason: rest.into(),
        }),
        _ => Err(malformed(
            file,
            line,
            &format!(
                "unknown marker `{mode} {rest}` (run | background until=<url> | skip <reason> | expect <text>)"
            ),
        )),
    }
}

/// The commands of the block whose opening fence is at `fence`, and the index of its closing fence.
fn block_commands(file: &str, lines: &[&str], fence: usize) -> Result<(Vec<DocCommand>, usize)> {
    let mut commands = Vec::new();
    let mut pending: Option<DocCommand> = None;
    for (index, raw) in lines.iter().enumerate().skip(fence + 1) {
        if raw.trim() == "```" {
            if pending.is_some() {
                return Err(malformed(
                    file,
                    index + 1,
                    "block ends inside a continued line",
                ));
            }
            return Ok((commands, index));
        }
        let continued = raw.trim_end().ends_with('\\');
        match pending.as_mut() {
            Some(command) => {
                command.text.push('\n');
                command.text.push_str(raw);
            }
            None => {
                let trimmed = raw.trim();
                if trimmed.is_empty() || trimmed.starts_with('#') {
                    continue;
                }
                pending = Some(DocCommand {
                    line: index + 1,
                    text: (*raw).to_owned(),
                });
            }
        }
        if !continued {
            commands.extend(pending.take());
        }
    }
    Err(malformed(file, fence + 1, "unterminated ```sh block"))
}

fn malformed(file: &str, line: usize, detail: &str) -> Error {
    Error::Document {
        document: format!("{file}:{line}"),
        detail: detail.to_owned(),
    }
}

/// A terminal session: the working directory and exported variables carried from one command
/// to the next.
#[derive(Debug)]
pub struct Session {
    file: String,
    state: tempfile::TempDir,
}

impl Session {
    /// A session starting in `cwd` with this process's environment less the variables in
    /// `unset`; `file` names the Markdown file in errors.
    pub fn new(file: &str, cwd: &Path, unset: &[&str]) -> Result<Session> {
        let state =
            tempfile::tempdir().map_err(Error::io("create", "a session state directory"))?;
        let pwd = state.path().join("pwd");
        fs::write(&pwd, cwd.as_os_str().as_encoded_bytes()).map_err(Error::io("write", &pwd))?;
        let env = state.path().join("env");
        let unset: String = unset.iter().map(|name| format!("unset {name}\n")).collect();
        fs::write(&env, unset).map_err(Error::io("write", &env))?;
        Ok(Session {
            file: file.to_owned(),
            state,
        })
    }

    /// The working directory the next command runs in.
    pub fn cwd(&self) -> Result<PathBuf> {
        let pwd = self.state.path().join("pwd");
        let text = fs::read_to_string(&pwd).map_err(Error::io("read", &pwd))?;
        Ok(PathBuf::from(text.trim_end_matches('\n')))
    }

    /// The shell command that runs `command` in this session and saves its state after it.
    fn script(&self, command: &str) -> String {
        let state = self.state.path().display();
        format!(
            "cd \"$(cat '{state}/pwd')\" && . '{state}/env' || exit 97\n{command}\n__rc=$?\npwd > '{state}/pwd'\nexport -p > '{state}/env'\nexit $__rc\n"
        )
    }

    /// Runs `command` (a block's command) to completion; what it printed, or an error naming
    /// the Markdown line and the command.
    pub fn run(&self, command: &DocCommand) -> Result<String> {
        let output = Command::new("bash")
            .arg("-c")
            .arg(self.script(&command.text))
            .stdin(Stdio::null())
            .output()
            .map_err(|source| Error::Spawn {
                program: String::from("bash"),
                source,
            })?;
        let printed = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        if output.status.success() {
            Ok(printed)
        } else {
            Err(Error::Command {
                command: format!("{}:{}: `{}`", self.file, command.line, command.text),
                status: output.status.to_string(),
                output: printed,
            })
        }
    }

    /// Starts `command` in the background (its own process group), output into `log`.
    pub fn spawn(&self, command: &DocCommand, log: &Path) -> Result<Background> {
        let out = fs::File::create(log).map_err(Error::io("create", log))?;
        let err = out.try_clone().map_err(Error::io("open", log))?;
        let mut process = Command::new("setsid");
        process
            .arg("bash")
            .arg("-c")
            .arg(self.script(&command.text))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let child = process.spawn().map_err(|source| Error::Spawn {
            program: format!("{}:{}: `{}`", self.file, command.line, command.text),
            source,
        })?;
        Ok(Background {
            child,
            log: log.to_path_buf(),
        })
    }

    /// Runs the commands of `step` in turn, stopping at the first failure; what they printed.
    pub fn run_step(&self, step: &Step) -> Result<String> {
        let mut printed = String::new();
        for command in &step.commands {
            printed.push_str(&self.run(command)?);
        }
        for text in &step.expect {
            if !printed.contains(text.as_str()) {
                return Err(Error::Document {
                    document: format!("{}:{}", self.file, step.line),
                    detail: format!("the block printed no {text:?}; it printed:\n{printed}"),
                });
            }
        }
        Ok(printed)
    }
}

/// A block's command running in the background, with its process group killed on drop.
#[derive(Debug)]
pub struct Background {
    child: std::process::Child,
    log: PathBuf,
}

impl Background {
    /// The last lines it printed.
    pub fn log_tail(&self) -> String {
        crate::process::log_tail(&self.log)
    }

    /// Whether it is still running; its log tail in an error when it exited.
    pub fn check_running(&mut self) -> Result<()> {
        match self
            .child
            .try_wait()
            .map_err(Error::io("wait for", &self.log))?
        {
            None => Ok(()),
            Some(status) => Err(Error::ProcessExited {
                process: format!("background command ({status})"),
                log_path: self.log.clone(),
                log: crate::process::log_tail(&self.log),
            }),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        // setsid made the child a process group leader: end the whole group (make, the
        // script, the controllers it started in the foreground).
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "# Title\n\
<!-- demo: begin -->\n\
<!-- demo: background until=http://127.0.0.1:1/ -->\n\
```sh\n\
make run\n\
```\n\
text\n\
<!-- demo: run -->\n\
```sh\n\
# a comment\n\
cd sub\n\
echo one \\\n\
  two\n\
```\n\
<!-- demo: expect one two -->\n\
<!-- demo: skip needs a real cluster -->\n\
```sh\n\
kubectl apply -k config/default\n\
```\n\
<!-- demo: end -->\n\
```sh\n\
not part of it\n\
```\n";

    #[test]
    fn parses_modes_lines_and_continuations() {
        let steps = steps("DOC.md", DOC, "demo").unwrap();
        assert_eq!(steps.len(), 3);
        assert_eq!(
            steps[0].mode,
            Mode::Background {
                until: "http://127.0.0.1:1/".into()
            }
        );
        assert_eq!(steps[0].line, 4);
        assert_eq!(
            steps[1].commands[0],
            DocCommand {
                line: 11,
                text: "cd sub".into()
            }
        );
        assert_eq!(steps[1].commands[1].line, 12);
        assert_eq!(steps[1].commands[1].text, "echo one \\\ntwo");
        assert_eq!(steps[1].expect, vec![String::from("one two")]);
        assert_eq!(
            steps[2].mode,
            Mode::Skip {
                reason: "needs a real cluster".into()
            }
        );
    }

    #[test]
    fn an_unmarked_block_inside_the_walkthrough_is_an_error_naming_its_line() {
        let doc = "<!-- demo: begin -->\n```sh\nls\n```\n<!-- demo: end -->\n";
        let error = steps("DOC.md", doc, "demo").unwrap_err().to_string();
        assert!(error.contains("DOC.md:2"), "{error}");
    }

    #[test]
    fn a_failing_command_is_reported_with_its_line_and_state_carries_over() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("sub")).unwrap();
        let doc = "<!-- demo: begin -->\n<!-- demo: run -->\n```sh\ncd sub\nexport GREETING=hi\ntouch made-here\necho \"$GREETING\"\n```\n<!-- demo: expect hi -->\n<!-- demo: run -->\n```sh\ntest -f made-here\nfalse && echo never\n```\n";
        let steps = steps("DOC.md", doc, "demo").unwrap();
        let session = Session::new("DOC.md", dir.path(), &[]).unwrap();
        session.run_step(&steps[0]).unwrap();
        assert!(dir.path().join("sub/made-here").exists());
        assert_eq!(session.cwd().unwrap(), dir.path().join("sub"));
        let error = session.run_step(&steps[1]).unwrap_err().to_string();
        assert!(
            error.contains("DOC.md:13: `false && echo never`"),
            "{error}"
        );
    }

    #[test]
    fn a_missing_expected_text_fails_the_step() {
        let dir = tempfile::tempdir().unwrap();
        let doc = "<!-- demo: begin -->\n<!-- demo: run -->\n```sh\necho hello\n```\n<!-- demo: expect goodbye -->\n";
        let steps = steps("DOC.md", doc, "demo").unwrap();
        let session = Session::new("DOC.md", dir.path(), &[]).unwrap();
        let error = session.run_step(&steps[0]).unwrap_err().to_string();
        assert!(
            error.contains("DOC.md:3") && error.contains("goodbye"),
            "{error}"
        );
    }
}
