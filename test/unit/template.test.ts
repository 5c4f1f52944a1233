/**
 * Go text/template for --format (src/cli/template), judged against Go.
 *
 * GO_CASES were produced by running Go's text/template (go1.19) with
 * docker/cli's template functions (templates/templates.go) over the same
 * data, decoded from JSON with integral numbers as int and string arrays as
 * []string, the way docker's typed data looks. DEVIATIONS lists the few
 * places where hako differs on purpose; the other sections cover what that
 * oracle could not show: behaviour of newer Go releases (range over int,
 * {{else with}}, index at len), JavaScript-specific mappings (null, methods,
 * bigint), docker's table/json conventions, and the tabwriter.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  GO_TYPE,
  MAX_EXEC_DEPTH,
  type ParamType,
  Template,
  TemplateError,
  displayWidth,
  executeTemplate,
  goJSON,
  isTableFormat,
  renderEach,
  renderFormat,
  renderTable,
  sprintf,
  tabwrite,
  templateText,
} from "../../src/cli/template/index.ts";
import { HakoError } from "../../src/common/errors.ts";

/** A `docker inspect`-like container. */
const C = {
  "Config": {
    "Cmd": [
      "nginx",
      "-g",
      "daemon off;"
    ],
    "Env": [
      "PATH=/usr/bin",
      "LANG=C.UTF-8"
    ],
    "ExposedPorts": {
      "80/tcp": {}
    },
    "Image": "nginx:1.25",
    "Labels": {
      "a.b": "x",
      "com.example.role": "frontend",
      "maintainer": "ops <ops@example.com>"
    }
  },
  "HostConfig": {
    "CpuShares": 0,
    "Devices": [],
    "Memory": 268435456
  },
  "Id": "4f3c0f1d2e5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c",
  "Mounts": [
    {
      "Destination": "/usr/share/nginx/html",
      "RW": false,
      "Source": "/srv/www",
      "Type": "bind"
    },
    {
      "Destination": "/data",
      "RW": true,
      "Source": "/var/lib/hako/volumes/data/_data",
      "Type": "volume"
    }
  ],
  "Name": "/web",
  "NetworkSettings": {
    "Networks": {
      "bridge": {
        "Gateway": "172.17.0.1",
        "IPAddress": "172.17.0.2"
      }
    },
    "Ports": {
      "443/tcp": [
        {
          "HostIp": "::",
          "HostPort": "8443"
        }
      ],
      "80/tcp": [
        {
          "HostIp": "0.0.0.0",
          "HostPort": "8080"
        }
      ]
    }
  },
  "State": {
    "ExitCode": 0,
    "Pid": 4242,
    "Running": true,
    "StartedAt": "2024-05-01T10:00:00.123456789Z",
    "Status": "running"
  }
};

/** Assorted values. */
const M = {
  "A": [
    1,
    2,
    3
  ],
  "Big": 1000000000000000,
  "E": [],
  "EM": {},
  "F": 3.75,
  "Fl": false,
  "H": "<a href='x'>&</a>",
  "M": {
    "a": 1,
    "b": 2,
    "c": 3
  },
  "Mixed": [
    1,
    "a",
    true,
    2.5
  ],
  "N": 42,
  "Neg": -7,
  "Nested": {
    "L": [
      {
        "K": "v1"
      },
      {
        "K": "v2"
      }
    ]
  },
  "Q": "say \"hi\"\n",
  "S": [
    "a",
    "b",
    "c"
  ],
  "T": true,
  "U": "héllo wörld",
  "X": "hello",
  "Y": "",
  "Z": 0
};

type Expected = string | { err: string; out?: string };
type Case = [template: string, data: unknown, expected: Expected];

/** Expected values computed by Go (see the header comment). */
const GO_CASES: Case[] = [
  ["{{.State.Pid}}", C, "4242"],
  ["{{json .Config}}", C, "{\"Cmd\":[\"nginx\",\"-g\",\"daemon off;\"],\"Env\":[\"PATH=/usr/bin\",\"LANG=C.UTF-8\"],\"ExposedPorts\":{\"80/tcp\":{}},\"Image\":\"nginx:1.25\",\"Labels\":{\"a.b\":\"x\",\"com.example.role\":\"frontend\",\"maintainer\":\"ops <ops@example.com>\"}}"],
  ["{{range .Mounts}}{{.Source}} {{end}}", C, "/srv/www /var/lib/hako/volumes/data/_data "],
  ["{{index .Config.Labels \"a.b\"}}", C, "x"],
  ["{{if eq .State.Status \"running\"}}up{{else}}down{{end}}", C, "up"],
  ["{{range $k, $v := .Config.Labels}}{{$k}}={{$v}},{{end}}", C, "a.b=x,com.example.role=frontend,maintainer=ops <ops@example.com>,"],
  ["{{.Name | printf \"%-10s|\"}}", C, "/web      |"],
  ["{{join .Config.Cmd \",\"}}", C, "nginx,-g,daemon off;"],
  ["{{upper .Config.Image}}", C, "NGINX:1.25"],
  ["{{truncate .Id 12}}", C, "4f3c0f1d2e5a"],
  ["{{len .Mounts}}", C, "2"],
  ["{{printf \"%v\" .Config.Labels}}", C, "map[a.b:x com.example.role:frontend maintainer:ops <ops@example.com>]"],
  ["{{.Config.Labels}}", C, "map[a.b:x com.example.role:frontend maintainer:ops <ops@example.com>]"],
  ["{{.Config.Env}}", C, "[PATH=/usr/bin LANG=C.UTF-8]"],
  ["{{range $p, $conf := .NetworkSettings.Ports}}{{$p}} -> {{(index $conf 0).HostPort}}; {{end}}", C, "443/tcp -> 8443; 80/tcp -> 8080; "],
  ["{{.NetworkSettings.Networks.bridge.IPAddress}}", C, "172.17.0.2"],
  ["{{range .NetworkSettings.Networks}}{{.IPAddress}}/{{.Gateway}}{{end}}", C, "172.17.0.2/172.17.0.1"],
  ["{{json .Mounts}}", C, "[{\"Destination\":\"/usr/share/nginx/html\",\"RW\":false,\"Source\":\"/srv/www\",\"Type\":\"bind\"},{\"Destination\":\"/data\",\"RW\":true,\"Source\":\"/var/lib/hako/volumes/data/_data\",\"Type\":\"volume\"}]"],
  ["{{.HostConfig.Memory}}", C, "268435456"],
  ["{{with .State}}{{.Status}}/{{.Pid}}{{end}}", C, "running/4242"],
  ["{{if .State.Running}}yes{{end}}", C, "yes"],
  ["{{if not .HostConfig.CpuShares}}default{{end}}", C, "default"],
  ["{{.Config.Labels.maintainer}}", C, "ops <ops@example.com>"],
  ["{{index .Config.Labels \"missing\"}}", C, "<no value>"],
  ["{{.Config.Labels.missing}}", C, "<no value>"],
  ["{{range .Config.Env}}{{println .}}{{end}}", C, "PATH=/usr/bin\nLANG=C.UTF-8\n"],
  ["{{lower .State.Status}} {{title .State.Status}}", C, "running Running"],
  ["{{split .Config.Image \":\"}}", C, "[nginx 1.25]"],
  ["{{index (split .Config.Image \":\") 1}}", C, "1.25"],
  ["{{pad .State.Status 2 3}}|", C, "  running   |"],
  ["{{json .State.Running}} {{json .Name}} {{json .State.Pid}}", C, "true \"/web\" 4242"],
  ["{{.State.StartedAt}}", C, "2024-05-01T10:00:00.123456789Z"],
  ["{{slice .Id 0 12}}", C, "4f3c0f1d2e5a"],
  ["{{range $i, $m := .Mounts}}{{if $i}}, {{end}}{{$m.Destination}}{{end}}", C, "/usr/share/nginx/html, /data"],
  ["{{len .Config.Labels}}", C, "3"],
  ["{{range .HostConfig.Devices}}x{{else}}none{{end}}", C, "none"],
  ["{{json .HostConfig.Devices}}", C, "[]"],
  ["{{.Config.ExposedPorts}}", C, "map[80/tcp:map[]]"],
  ["{{range $k, $v := .Config.ExposedPorts}}{{$k}}{{end}}", C, "80/tcp"],
  ["{{with .Config}}{{.Image}}{{end}}", C, "nginx:1.25"],
  ["{{.Config.Labels.a.b}}", C, "<no value>"],
  ["{{if and .State.Running (eq .State.ExitCode 0)}}healthy{{end}}", C, "healthy"],
  ["{{range .Mounts}}{{if .RW}}{{.Destination}}{{end}}{{end}}", C, "/data"],
  ["{{json .NetworkSettings}}", C, "{\"Networks\":{\"bridge\":{\"Gateway\":\"172.17.0.1\",\"IPAddress\":\"172.17.0.2\"}},\"Ports\":{\"443/tcp\":[{\"HostIp\":\"::\",\"HostPort\":\"8443\"}],\"80/tcp\":[{\"HostIp\":\"0.0.0.0\",\"HostPort\":\"8080\"}]}}"],
  ["{{.X}}|{{.N}}|{{.F}}|{{.Neg}}|{{.Big}}|{{.T}}|{{.Fl}}", M, "hello|42|3.75|-7|1000000000000000|true|false"],
  ["{{.A}} {{.E}} {{.S}} {{.M}} {{.EM}}", M, "[1 2 3] [] [a b c] map[a:1 b:2 c:3] map[]"],
  ["{{.Nested}}", M, "map[L:[map[K:v1] map[K:v2]]]"],
  ["{{.Mixed}}", M, "[1 a true 2.5]"],
  ["{{.U}}", M, "héllo wörld"],
  ["{{if .Y}}t{{else}}f{{end}}{{if .Z}}t{{else}}f{{end}}{{if .E}}t{{else}}f{{end}}{{if .EM}}t{{else}}f{{end}}{{if .Fl}}t{{else}}f{{end}}{{if .Missing}}t{{else}}f{{end}}", M, "ffffff"],
  ["{{if .X}}t{{end}}{{if .N}}t{{end}}{{if .A}}t{{end}}{{if .M}}t{{end}}{{if .T}}t{{end}}{{if .F}}t{{end}}", M, "tttttt"],
  ["{{if .Z}}a{{else if .Y}}b{{else if .N}}c{{else}}d{{end}}", M, "c"],
  ["{{if .Z}}a{{else if .Y}}b{{else}}d{{end}}", M, "d"],
  ["{{with .Y}}x{{else}}empty{{end}}", M, "empty"],
  ["{{with .X}}{{.}}{{end}}", M, "hello"],
  ["{{with $x := .N}}{{$x}}{{.}}{{end}}", M, "4242"],
  ["{{range .M}}{{.}}{{end}}", M, "123"],
  ["{{range $k, $v := .M}}{{$k}}{{$v}}{{end}}", M, "a1b2c3"],
  ["{{range $i, $e := .S}}{{$i}}{{$e}}{{end}}", M, "0a1b2c"],
  ["{{range $e := .S}}{{$e}}{{end}}", M, "abc"],
  ["{{range .E}}x{{else}}empty{{end}}", M, "empty"],
  ["{{range .Missing}}x{{else}}none{{end}}", M, "none"],
  ["{{range .A}}{{if eq . 2}}{{break}}{{end}}{{.}}{{end}}", M, "1"],
  ["{{range .A}}{{if eq . 2}}{{continue}}{{end}}{{.}}{{end}}", M, "13"],
  ["{{range .A}}{{range $.S}}{{.}}{{end}}{{.}}{{end}}", M, "abc1abc2abc3"],
  ["{{$x := 1}}{{$x = 2}}{{$x}}", M, "2"],
  ["{{$x := .X}}{{range .A}}{{$x}}{{end}}", M, "hellohellohello"],
  ["{{range .A}}{{$.N}}{{end}}", M, "424242"],
  ["{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}", M, "2"],
  ["{{$x := 1}}{{if true}}{{$x := 2}}{{$x}}{{end}}{{$x}}", M, "21"],
  ["{{$x := 0}}{{range .A}}{{$x = .}}{{end}}{{$x}}", M, "3"],
  ["{{and 1 0 2}} {{and 1 2}} {{or 0 \"\" \"x\"}} [{{or 0 \"\"}}] {{and .X .N}} {{or .Missing \"dflt\"}}", M, "0 2 x [] 42 dflt"],
  ["{{and false (index .A 99)}} {{or true (index .A 99)}}", M, "false true"],
  ["{{not .T}} {{not \"\"}} {{not .A}}", M, "false true false"],
  ["{{len .X}} {{len .U}} {{len .M}} {{len .E}} {{len .S}}", M, "5 13 3 0 3"],
  ["{{index .Nested.L 1 \"K\"}}", M, "v2"],
  ["{{(index .Nested.L 0).K}}", M, "v1"],
  ["{{index .X 0}}", M, "104"],
  ["{{slice .S 1}} {{slice .S 1 2}} {{slice .X 1 3}} {{slice .S}}", M, "[b c] [b] el [a b c]"],
  ["{{print 1 2 \"a\" \"b\" 3}}", M, "1 2ab3"],
  ["{{println 1 \"a\" .A}}", M, "1 a [1 2 3]\n"],
  ["{{printf \"%d|%5d|%-5d|%05d|%x|%X|%o|%b\" 42 42 42 42 255 255 8 5}}", M, "42|   42|42   |00042|ff|FF|10|101"],
  ["{{printf \"%s|%q|%v|%10s|%-10s|%.2s|\" .X .X .X .X .X .X}}", M, "hello|\"hello\"|hello|     hello|hello     |he|"],
  ["{{printf \"%t %v\" .T .Fl}}", M, "true false"],
  ["{{printf \"%f|%.2f|%8.3f|%e|%g|%v\" .F .F .F .F .F .F}}", M, "3.750000|3.75|   3.750|3.750000e+00|3.75|3.75"],
  ["{{printf \"%.1f %.0f %.0f %.2f\" 0.25 0.5 1.5 12.345}}", M, "0.2 0 2 12.35"],
  ["{{printf \"%v %d %q\" .A .A .S}}", M, "[1 2 3] [1 2 3] [\"a\" \"b\" \"c\"]"],
  ["{{printf \"%d\" .X}}", M, "%!d(string=hello)"],
  ["{{printf \"%s\"}}", M, "%!s(MISSING)"],
  ["{{printf \"%d\" 1 2}}", M, "1%!(EXTRA int=2)"],
  ["{{printf \"%x %X % x\" .X .X .X}}", M, "68656c6c6f 68656C6C6F 68 65 6c 6c 6f"],
  ["{{printf \"%T %T %T %T %T\" .X .N .F .A .M}}", M, "string int float64 []interface {} map[string]interface {}"],
  ["{{printf \"%c%c %U %#U %q\" 72 105 65 233 65}}", M, "Hi U+0041 U+00E9 'é' 'A'"],
  ["{{printf \"%6.2f%%\" 12.345}}", M, " 12.35%"],
  ["{{printf \"%+d % d %+.1f\" 5 5 2.0}}", M, "+5  5 +2.0"],
  ["{{printf \"%#x %#o %#b\" 255 8 5}}", M, "0xff 010 0b101"],
  ["{{printf \"%08.3f|%-8.2f|%+08d\" -3.14159 2.5 42}}", M, "-003.142|2.50    |+0000042"],
  ["{{printf \"%g %G %e %.3e %.3g\" 0.00001234 1e-10 0.0 123456.0 0.0001234}}", M, "1.234e-05 1E-10 0.000000e+00 1.235e+05 0.000123"],
  ["{{printf \"%5t|%-7v|%3v\" true false .A}}", M, " true|false  |[  1   2   3]"],
  ["{{printf \"%s %v\" .Mixed .Nested}}", M, "[%!s(int=1) a %!s(bool=true) %!s(float64=2.5)] map[L:[map[K:v1] map[K:v2]]]"],
  ["{{printf \"%!\" }}", M, "%!!(MISSING)"],
  ["{{printf \"%z\" 1}}", M, "%!z(int=1)"],
  ["{{printf \"%q\" \"tab\\there\\x01é\"}}", M, "\"tab\\there\\x01é\""],
  ["{{printf \"%+q %#q\" \"é\" \"a`b\"}}", M, "\"\\u00e9\" \"a`b\""],
  ["{{printf \"%.3s|%5.1s|\" .U .U}}", M, "hél|    h|"],
  ["{{'a'}} {{printf \"%c\" 'x'}} {{'\\n'}}", M, "97 x 10"],
  ["{{0x1F}} {{1_000}} {{-5}} {{1.5e3}} {{0o17}} {{0b101}} {{017}} {{+7}}", M, "31 1000 -5 1500 15 5 15 7"],
  ["{{\"a\\tb\\u00e9\\x41\"}}", M, "a\tbéA"],
  ["{{`a\\n`}}", M, "a\\n"],
  ["{{\"\\\"quoted\\\"\"}}", M, "\"quoted\""],
  ["{{true}} {{false}}", M, "true false"],
  ["a{{/* comment */}}b", M, "ab"],
  ["a {{- /* c */ -}} b", M, "ab"],
  ["a  \n {{- .X}}", M, "ahello"],
  ["{{.X -}}  \n b", M, "hellob"],
  ["<{{- .X -}}>", M, "<hello>"],
  ["{{-3}}", M, "-3"],
  ["{{3 -}} x", M, "3x"],
  ["{{range .S -}}\n  {{.}}\n{{- end}}", M, "abc"],
  ["x {{- if .T -}} \n yes \n {{- end -}} \n y", M, "xyesy"],
  ["{{/* multi\nline */}}ok", M, "ok"],
  ["{{.X | upper | printf \"%s!\"}}", M, "HELLO!"],
  ["{{\"x\" | printf \"%s-%s\" \"y\"}}", M, "y-x"],
  ["{{printf \"%d\" (len .A)}} {{(len .A)}}", M, "3 3"],
  ["{{.S | len}}", M, "3"],
  ["{{.N | eq 42}}", M, "true"],
  ["{{eq .N 1 2 42}} {{eq .X \"a\" \"b\"}} {{eq .X \"hello\"}}", M, "true false true"],
  ["{{ne .N 42}} {{lt 1 2}} {{le 2 2}} {{gt \"b\" \"a\"}} {{ge 1 2}} {{lt \"a\" \"b\"}} {{lt 1.5 2.5}}", M, "false true true true false true true"],
  ["{{eq .X 1}}", M, { err: "template: :1:2: executing \"\" at <eq .X 1>: error calling eq: incompatible types for comparison" }],
  ["{{lt .T .T}}", M, { err: "template: :1:2: executing \"\" at <lt .T .T>: error calling lt: invalid type for comparison" }],
  ["{{lt .A 1}}", M, { err: "template: :1:2: executing \"\" at <lt .A 1>: error calling lt: invalid type for comparison" }],
  ["{{eq .Missing nil}} {{eq .X nil}}", M, "true false"],
  ["{{eq .A .A}}", M, { err: "template: :1:2: executing \"\" at <eq .A .A>: error calling eq: non-comparable type [%!s(int=1) %!s(int=2) %!s(int=3)]: []interface {}" }],
  ["{{eq .N}}", M, { err: "template: :1:2: executing \"\" at <eq .N>: error calling eq: missing argument for comparison" }],
  ["{{html .H}}", M, "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;"],
  ["{{js .Q}} {{js .H}}", M, "say \\\"hi\\\"\\u000A \\u003Ca href\\u003D\\'x\\'\\u003E\\u0026\\u003C/a\\u003E"],
  ["{{urlquery \"a b&c=d/é~\"}}", M, "a+b%26c%3Dd%2F%C3%A9~"],
  ["{{.H | html}}", M, "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;"],
  ["{{html 1 \"a\"}}", M, "1a"],
  ["{{define \"T\"}}[{{.}}]{{end}}{{template \"T\" .X}}{{template \"T\" .N}}", M, "[hello][42]"],
  ["{{define \"T\"}}{{$}}{{end}}{{template \"T\" 5}}", M, "5"],
  ["{{block \"B\" .X}}<{{.}}>{{end}}", M, "<hello>"],
  ["{{define \"list\"}}{{range .}}({{.}}){{end}}{{end}}{{template \"list\" .S}}", M, "(a)(b)(c)"],
  ["{{define \"r\"}}{{if .}}{{len .}}{{template \"r\" (slice . 1)}}{{end}}{{end}}{{template \"r\" .S}}", M, "321"],
  ["{{define \"T\"}}{{.}}{{end}}{{template \"T\"}}", M, "<no value>"],
  ["{{define \"T\"}}{{$x}}{{end}}", M, { err: "template: :1: undefined variable \"$x\"" }],
  ["{{json .S}} {{json .M}} {{json .A}} {{json .E}} {{json .EM}}", M, "[\"a\",\"b\",\"c\"] {\"a\":1,\"b\":2,\"c\":3} [1,2,3] [] {}"],
  ["{{json .H}} {{json .Q}} {{json .F}} {{json .U}} {{json .Nested}}", M, "\"<a href='x'>&</a>\" \"say \\\"hi\\\"\\n\" 3.75 \"héllo wörld\" {\"L\":[{\"K\":\"v1\"},{\"K\":\"v2\"}]}"],
  ["{{json .Missing}} {{json nil}} {{json true}} {{json 1.5}}", M, "null null true 1.5"],
  ["{{split \"a,b,,c\" \",\"}} {{len (split \"a,b,,c\" \",\")}}", M, "[a b  c] 4"],
  ["{{split \"abc\" \"\"}} {{split \"\" \",\"}} {{len (split \"\" \",\")}}", M, "[a b c] [] 1"],
  ["{{join (split \"a:b:c\" \":\") \"-\"}}", M, "a-b-c"],
  ["{{title \"hello wide-world foo_bar 9lives\"}}", M, "Hello Wide-World Foo_bar 9lives"],
  ["{{upper .U}} {{lower \"ÀBC\"}}", M, "HÉLLO WÖRLD àbc"],
  ["{{pad \"\" 2 2}}|{{pad \"x\" 0 1}}|", M, "|x |"],
  ["{{truncate \"abc\" 5}} {{truncate \"abc\" 3}} {{truncate \"abcdef\" 2}} {{truncate \"\" 0}}", M, "abc abc ab "],
  ["{{printf \"%s\" (json .A)}}", M, "[1,2,3]"],
  ["{{.X | truncate 3}}", M, { err: "template: :1:16: executing \"\" at <3>: expected string; found 3" }],
  ["{{join .S \", \"}}", M, "a, b, c"],
  ["{{.Missing}} {{.Missing.Deeper}} {{.M.zz}}", M, "<no value> <no value> <no value>"],
  ["{{print .Missing}} {{printf \"%v\" .Missing}} {{printf \"%s\" .Missing}}", M, "<nil> <nil> %!s(<nil>)"],
  ["{{html .Missing}}", M, "&lt;no value&gt;"],
  ["{{index .M \"zz\"}}", M, "<no value>"],
  ["{{index .Missing \"x\"}}", M, { err: "template: :1:2: executing \"\" at <index .Missing \"x\">: error calling index: index of untyped nil" }],
  ["{{.X", M, { err: "template: :1: unclosed action" }],
  ["{{if .X}}a", M, { err: "template: :1: unexpected EOF" }],
  ["{{end}}", M, { err: "template: :1: unexpected {{end}}" }],
  ["{{else}}", M, { err: "template: :1: unexpected {{else}}" }],
  ["{{foo}}", M, { err: "template: :1: function \"foo\" not defined" }],
  ["{{.X | 1}}", M, { err: "template: :1: non executable command in pipeline stage 2" }],
  ["{{(1 2}}", M, { err: "template: :1: unclosed left paren" }],
  ["{{1)}}", M, { err: "template: :1: unexpected \")\" in command" }],
  ["{{$x}}", M, { err: "template: :1: undefined variable \"$x\"" }],
  ["{{\"abc}}", M, { err: "template: :1: unterminated quoted string" }],
  ["{{/* x */ }}", M, { err: "template: :1: comment ends before closing delimiter" }],
  ["{{/* x", M, { err: "template: :1: unclosed comment" }],
  ["{{break}}", M, { err: "template: :1: {{break}} outside {{range}}" }],
  ["{{range .A}}{{else}}{{break}}{{end}}", M, { err: "template: :1: {{break}} outside {{range}}" }],
  ["{{'ab'}}", M, { err: "template: :1: malformed character constant: 'ab'" }],
  ["{{.A.}}", M, { err: "template: :1: unexpected <.> in operand" }],
  ["{{1.B}}", M, { err: "template: :1: bad number syntax: \"1.B\"" }],
  ["{{if}}{{end}}", M, { err: "template: :1: missing value for if" }],
  ["{{range $i, $v, $w := .A}}{{end}}", M, { err: "template: :1: too many declarations in range" }],
  ["{{with $x, $y := .A}}{{end}}", M, { err: "template: :1: too many declarations in with" }],
  ["{{define \"a\"}}x{{end}}{{define \"a\"}}y{{end}}", M, { err: "template: :1: template: multiple definition of template \"a\"" }],
  ["{{template .X}}", M, { err: "template: :1: unexpected \".X\" in template clause" }],
  ["a\n{{.A\n.B", M, { err: "template: :3: unclosed action started at :2" }],
  ["{{if .X}}{{else}}{{else}}{{end}}", M, { err: "template: :1: expected end; found {{else}}" }],
  ["{{\"a\" .X}}", M, { err: "template: :1:2: executing \"\" at <\"a\">: can't give argument to non-function \"a\"" }],
  ["{{.X}}{{end}}", M, { err: "template: :1: unexpected {{end}}" }],
  ["{{range .A}}", M, { err: "template: :1: unexpected EOF" }],
  ["{{ .X | }}", M, "hello"],
  ["{{$x := 1}}{{$y}}", M, { err: "template: :1: undefined variable \"$y\"" }],
  ["{{#}}", M, { err: "template: :1: unexpected \"#\" in command" }],
  ["{{\"\\q\"}}", M, { err: "template: :1: invalid syntax" }],
  ["{{3.4.5}}", M, { err: "template: :1: unexpected \".5\" in operand" }],
  ["{{with .X}}{{else if .Y}}{{end}}", M, { err: "template: :1: unexpected <if> in input" }],
  ["{{define \"x\"}}{{else}}{{end}}", M, { err: "template: :1: unexpected {{else}} in define clause" }],
  ["{{99999999999999999999}}", M, { err: "template: :1: integer overflow: \"99999999999999999999\"" }],
  ["{{nil}}", M, { err: "template: :1:2: executing \"\" at <nil>: nil is not a command" }],
  ["{{printf}}", M, { err: "template: :1:2: executing \"\" at <printf>: wrong number of args for printf: want at least 1 got 0" }],
  ["{{upper 1}}", M, { err: "template: :1:8: executing \"\" at <1>: expected string; found 1" }],
  ["{{upper .N}}", M, { err: "template: :1:8: executing \"\" at <.N>: wrong type for value; expected string; got int" }],
  ["{{truncate .X \"a\"}}", M, { err: "template: :1:14: executing \"\" at <\"a\">: expected integer; found \"a\"" }],
  ["{{join .A \",\"}}", M, { err: "template: :1:7: executing \"\" at <.A>: wrong type for value; expected []string; got []interface {}" }],
  ["{{len .N}}", M, { err: "template: :1:2: executing \"\" at <len .N>: error calling len: len of type int" }],
  ["{{.X 1}}", M, { err: "template: :1:2: executing \"\" at <.X>: X is not a method but has arguments" }],
  ["{{1 2}}", M, { err: "template: :1:2: executing \"\" at <1>: can't give argument to non-function 1" }],
  ["{{range .X}}{{end}}", M, { err: "template: :1:8: executing \"\" at <.X>: range can't iterate over hello" }],
  ["{{template \"nope\"}}", M, { err: "template: :1:11: executing \"\" at <{{template \"nope\"}}>: template \"nope\" not defined" }],
  ["{{$x := 1}}{{$x.Foo}}", M, { err: "template: :1:15: executing \"\" at <$x.Foo>: can't evaluate field Foo in type int" }],
  ["{{index .S \"a\"}}", M, { err: "template: :1:2: executing \"\" at <index .S \"a\">: error calling index: cannot index slice/array with type string" }],
  ["{{index .S -1}}", M, { err: "template: :1:2: executing \"\" at <index .S -1>: error calling index: index out of range: -1" }],
  ["{{index .M 1}}", M, { err: "template: :1:2: executing \"\" at <index .M 1>: error calling index: value has type int; should be string" }],
  ["{{index .N 1}}", M, { err: "template: :1:2: executing \"\" at <index .N 1>: error calling index: can't index item of type int" }],
  ["{{slice .X 3 1}}", M, { err: "template: :1:2: executing \"\" at <slice .X 3 1>: error calling slice: invalid slice index: 3 > 1" }],
  ["{{slice .N 1}}", M, { err: "template: :1:2: executing \"\" at <slice .N 1>: error calling slice: can't slice item of type int" }],
  ["{{and}}", M, { err: "template: :1:2: executing \"\" at <and>: wrong number of args for and: want at least 1 got 0" }],
  ["{{not 1 2}}", M, { err: "template: :1:2: executing \"\" at <not>: wrong number of args for not: want 1 got 2" }],
  ["{{.X | pad 1 1}}", M, { err: "template: :1:11: executing \"\" at <1>: expected string; found 1" }],
  ["{{index 1.5 0}}", M, { err: "template: :1:2: executing \"\" at <index 1.5 0>: error calling index: can't index item of type float64" }],
  ["{{(1).X}}", M, { err: "template: :1:3: executing \"\" at <1>: can't evaluate field X in type int" }],
  ["{{nil.X}}", M, { err: "template: :1: unexpected . after term \"nil\"" }],
  ["é {{.X 1}}", M, { err: "template: :1:5: executing \"\" at <.X>: X is not a method but has arguments", out: "é " }],
  ["日本\n語{{.X 1}}", M, { err: "template: :2:5: executing \"\" at <.X>: X is not a method but has arguments", out: "日本\n語" }],
  ["{{.Mixed | printf \"%v|%d\" .A}}", M, "[1 2 3]|[1 %!d(string=a) %!d(bool=true) %!d(float64=2.5)]"],
  ["{{range $i, $c := .X}}{{end}}", M, { err: "template: :1:18: executing \"\" at <.X>: range can't iterate over hello" }],
  ["{{printf \"%5.2q|%-6d|%x|%X\" .X -42 -255 .S}}", M, " \"he\"|-42   |-ff|[61 62 63]"],
  ["{{printf \"%o %O %b %c\" -8 8 -5 9731}}", M, "-10 0o10 -101 ☃"],
  ["{{printf \"%e %E %.0e %g %.10g\" 1e-300 123e200 5.5 1e100 3.141592653589793}}", M, "1.000000e-300 1.230000E+202 6e+00 1e+100 3.141592654"],
  ["{{printf \"%v %v %v\" .F .Neg .Big}} {{.F | printf \"%.3f\"}}", M, "3.75 -7 1000000000000000 3.750"],
  ["{{with .Missing}}x{{else}}{{.X}}{{end}}", M, "hello"],
  ["{{if false}}{{else}}{{$y := 1}}{{$y}}{{end}}", M, "1"],
  ["{{)}}", M, { err: "template: :1: unexpected \")\" in command" }],
  ["{{.X ¡}}", M, { err: "template: :1: unrecognized character in action: U+00A1 '¡'" }],
  ["{{.X$}}", M, { err: "template: :1: bad character U+0024 '$'" }],
  ["{{$x :}}", M, { err: "template: :1: undefined variable \"$x\"" }],
  ["{{'\n}}", M, { err: "template: :1: unterminated character constant" }],
  ["{{block \"b\"}}{{end}}", M, { err: "template: :1: missing value for block clause" }],
  ["{{with}}{{end}}", M, { err: "template: :1: missing value for with" }],
  ["a\nb\n{{if .X}}\n{{else}}\n{{else}}{{end}}", M, { err: "template: :5: expected end; found {{else}}" }],
  ["{{template \"x\" 1 2}}", M, { err: "template: :1:11: executing \"\" at <{{template \"x\" 1 2}}>: template \"x\" not defined" }],
  ["{{define}}{{end}}", M, { err: "template: :1: unexpected \"}}\" in define clause" }],
  ["{{define \"a\" .}}{{end}}", M, { err: "template: :1: unexpected <.> in define clause" }],
  ["{{range $x := .A}}{{end}}{{$x}}", M, { err: "template: :1: undefined variable \"$x\"" }],
  ["{{.X | .Y}}", M, { err: "template: :1:7: executing \"\" at <.Y>: Y is not a method but has arguments" }],
  ["{{.X | printf \"%s\" | len}}", M, "5"],
  ["{{$a, $b := .A}}", M, { err: "template: :1: too many declarations in command" }],
  ["{{range $k, 1 := .A}}{{end}}", M, { err: "template: :1: range can only initialize variables" }],
  ["{{if 1}}{{else}}{{end}}{{end}}", M, { err: "template: :1: unexpected {{end}}" }],
  ["{{- 3}}", M, "3"],
  ["{{3 -}}", M, "3"],
  ["{{print -3 +4 .5}}", M, "-3 4 0.5"],
  ["{{0x1p-2}} {{1e3}} {{1.}}", M, "0.25 1000 1"],
  ["{{08}}", M, { err: "template: :1: integer overflow: \"08\"" }],
  ["{{1_}}", M, { err: "template: :1: illegal number syntax: \"1_\"" }],
  ["{{printf \"%d\" 18446744073709551615}}", M, { err: "template: :1:14: executing \"\" at <18446744073709551615>: 18446744073709551615 overflows int" }],
  ["{{\"\\u00e9\\101\\a\"}}", M, "éA\u0007"],
  ["{{`raw\r\nline`}}", M, "raw\nline"],
  ["{{'\\''}} {{'\\x41'}} {{'\\u263a'}} {{'\\\"'}}", M, { err: "template: :1: invalid syntax" }],
];

/** Where hako differs from the Go oracle on purpose. */
const DEVIATIONS: Case[] = [
  // an integral number is an int: the literal 1e21 prints as digits
  ["{{printf \"%v %v %v %v\" 1234567.5 0.000012 123456.789 1e21}}", M, "1.2345675e+06 1.2e-05 123456.789 1000000000000000000000"],
  // a float verb on an integral number formats it as float64
  ["{{printf \"%[2]d %[1]d %*d|%.*f\" 1 2 5 3 2 3.14159}}", M, "2 1  5|2.000"],
  // the concrete type is named, as for docker's typed data (Go on map data says interface {})
  ["line1\n{{.X}}\n  {{.X.Y}}", M, { err: "template: :3:6: executing \"\" at <.X.Y>: can't evaluate field Y in type string", out: "line1\nhello\n  " }],
  // concrete type name
  ["{{.X.Y.Z}}", M, { err: "template: :1:4: executing \"\" at <.X.Y.Z>: can't evaluate field Y in type string" }],
  // concrete type name
  ["{{define \"T\"}}{{.X.Y}}{{end}}{{template \"T\" .}}", M, { err: "template: :1:18: executing \"T\" at <.X.Y>: can't evaluate field Y in type string" }],
  // concrete type name
  ["ok {{.X}} {{.X.Y}} never", M, { err: "template: :1:14: executing \"\" at <.X.Y>: can't evaluate field Y in type string", out: "ok hello " }],
  // concrete type name
  ["{{.M.a.b}}", M, { err: "template: :1:4: executing \"\" at <.M.a.b>: can't evaluate field b in type int" }],
  // concrete type name
  ["x\n{{/* a */}}\n{{.X.Y}}", M, { err: "template: :3:4: executing \"\" at <.X.Y>: can't evaluate field Y in type string", out: "x\n\n" }],
  // complex constants are not supported
  ["{{1+2i}}", M, { err: "template: :1: complex numbers are not supported: \"1+2i\"" }],
];

function run(template: string, data: unknown, options: Parameters<typeof executeTemplate>[2] = {}): { out: string; err?: string } {
  try {
    return { out: executeTemplate(template, data, options) };
  } catch (err) {
    if (!(err instanceof TemplateError)) throw err;
    return { out: err.output, err: err.message };
  }
}

function check([template, data, expected]: Case): void {
  const got = run(template, structuredClone(data));
  if (typeof expected === "string") {
    assert.equal(got.err, undefined, `unexpected error for ${JSON.stringify(template)}`);
    assert.equal(got.out, expected);
  } else {
    assert.equal(got.err, expected.err);
    assert.equal(got.out, expected.out ?? "");
  }
}

function title(template: string): string {
  return JSON.stringify(template).slice(1, -1);
}

describe("template: agrees with Go text/template + docker funcs", () => {
  it(`has a large table (${GO_CASES.length} cases)`, () => {
    assert.ok(GO_CASES.length >= 200);
  });
  for (const c of GO_CASES) it(title(c[0]), () => check(c));
});

describe("template: deliberate deviations from Go on map data", () => {
  for (const c of DEVIATIONS) it(title(c[0]), () => check(c));
});

describe("template: newer Go releases", () => {
  it("ranges over an integer (Go 1.22)", () => {
    assert.equal(run("{{range 3}}{{.}}{{end}}", M).out, "012");
    assert.equal(run("{{range $i := .N}}{{if eq $i 3}}{{break}}{{end}}{{$i}}{{end}}", M).out, "012");
    assert.equal(run("{{range 0}}x{{else}}none{{end}}", M).out, "none");
    assert.equal(
      run("{{range $i, $v := 3}}{{end}}", M).err,
      'template: :1:18: executing "" at <3>: can\'t use 3 to iterate over more than one variable',
    );
  });

  it("supports {{else with}} (Go 1.23)", () => {
    assert.equal(run("{{with .Y}}a{{else with .X}}{{.}}{{end}}", M).out, "hello");
    assert.equal(run("{{with .Y}}a{{else with .Z}}b{{else}}c{{end}}", M).out, "c");
  });

  it("reports an index equal to the length as out of range", () => {
    assert.equal(
      run("{{index .S 3}}", M).err,
      'template: :1:2: executing "" at <index .S 3>: error calling index: index out of range: 3',
    );
  });

  it("escapes \\b and \\f in json like Go 1.22+", () => {
    assert.equal(run("{{json .}}", "a\bb\fc").out, '"a\\bb\\fc"');
  });
});

describe("template: JavaScript values", () => {
  const data = { Null: null, Arr: [1, null, "x"], Big: 12345678901234567890n, Map: new Map<string, number>([["b", 1], ["a", 2]]) };

  it("prints null as <nil> and a missing key as <no value>", () => {
    assert.equal(run("{{.Null}}|{{.Missing}}|{{.Arr}}|{{printf \"%v %d\" .Null .Null}}", data).out, "<nil>|<no value>|[1 <nil> x]|<nil> %!d(<nil>)");
  });

  it("treats null as false, empty and equal to nil", () => {
    assert.equal(run("{{if .Null}}t{{else}}f{{end}}{{range .Null}}x{{else}}e{{end}}{{eq .Null nil}}{{json .Null}}", data).out, "fetruenull");
  });

  it("fails on a field of null like Go's nil interface", () => {
    assert.equal(run("{{.Null.X}}", data).err, 'template: :1:7: executing "" at <.Null.X>: nil pointer evaluating interface {}.X');
    assert.equal(run("{{len .Null}}", data).err, 'template: :1:2: executing "" at <len .Null>: error calling len: len of nil pointer');
  });

  it("treats null data as Go's nil data", () => {
    assert.equal(run("{{.}} {{.X}} {{.X.Y}}", null).out, "<no value> <no value> <no value>");
  });

  it("prints bigints as ints and Maps as sorted maps", () => {
    assert.equal(run("{{.Big}} {{json .Big}} {{.Map}} {{json .Map}} {{index .Map \"a\"}}", data).out, '12345678901234567890 12345678901234567890 map[a:2 b:1] {"a":2,"b":1} 2');
  });

  it("formats integral numbers with float verbs as floats", () => {
    assert.equal(run('{{printf "%.2f|%5.1f|%e|%g" .N .N .N .N}}', M).out, "42.00| 42.0|4.200000e+01|42");
  });

  it("compares ints and floats numerically", () => {
    assert.equal(run("{{eq 0.0 .Z}} {{lt .N 42.5}} {{eq .F 3.75}}", M).out, "true true true");
  });

  it("calls class methods and getters like Go methods", () => {
    class Ctx {
      constructor(private readonly id: string) {}
      get ID(): string {
        return this.id;
      }
      Label(key: string): string {
        return `${key}=${this.id}`;
      }
      Fail(): string {
        throw new Error("boom");
      }
    }
    const ctx = new Ctx("abc");
    assert.equal(run('{{.ID}} {{.Label "k"}} {{"v" | .Label}}', ctx).out, "abc k=abc v=abc");
    assert.equal(run("{{.Fail}}", ctx).err, 'template: :1:2: executing "" at <.Fail>: error calling Fail: boom');
    assert.equal(run("{{.constructor}}{{.toString}}", ctx).out, "<no value><no value>");
  });

  it("keeps function-valued properties as func values for call", () => {
    const fns = { Add: (a: number, b: number) => a + b, S: "x" };
    assert.equal(run("{{call .Add 1 2}}", fns).out, "3");
    assert.equal(run("{{.Add 1}}", fns).err, 'template: :1:2: executing "" at <.Add>: Add is not a method but has arguments');
    assert.equal(run("{{.Add}}", fns).err, 'template: :1:2: executing "" at <{{.Add}}>: can\'t print {{.Add}} of type func(...interface {}) interface {}');
    assert.equal(run("{{call .S}}", fns).err, 'template: :1:2: executing "" at <call .S>: error calling call: non-function of type string');
    assert.equal(run("{{call .Nope}}", fns).err, 'template: :1:2: executing "" at <call .Nope>: error calling call: call of nil');
  });

  it("prints errors and String() methods like Go's error and Stringer", () => {
    class Duration {
      String(): string {
        return "5s";
      }
    }
    assert.equal(run('{{.D}} {{printf "%q" .D}} {{.E}}', { D: new Duration(), E: new Error("boom") }).out, '5s "5s" boom');
  });
});

describe("template: options", () => {
  it("strictFields makes unknown fields errors, as on docker's structs", () => {
    assert.equal(
      run("{{.Foo}}", { A: 1 }, { strictFields: true }).err,
      'template: :1:2: executing "" at <.Foo>: can\'t evaluate field Foo in type map[string]interface {}',
    );
    assert.equal(run("{{.A}}", { A: 1 }, { strictFields: true }).out, "1");
    assert.equal(
      run("{{.A 1}}", { A: 1 }, { strictFields: true }).err,
      'template: :1:2: executing "" at <.A>: A has arguments but cannot be invoked as function',
    );
  });

  it("GO_TYPE marks a struct and names its type", () => {
    const row = { ID: "abc", [GO_TYPE]: "*formatter.ContainerContext" };
    assert.equal(
      run("{{.Foo}}", row).err,
      'template: :1:2: executing "" at <.Foo>: can\'t evaluate field Foo in type *formatter.ContainerContext',
    );
    assert.equal(run("{{if .}}t{{end}}", { [GO_TYPE]: "T" }).out, "t");
  });

  it("missingKey picks Go's missingkey behaviour", () => {
    assert.equal(run("{{.Foo}}", { A: 1 }, { missingKey: "error" }).err, 'template: :1:2: executing "" at <.Foo>: map has no entry for key "Foo"');
    assert.equal(run("{{.Foo.Bar}}", {}, { missingKey: "error" }).err, 'template: :1:6: executing "" at <.Foo.Bar>: map has no entry for key "Foo"');
    assert.equal(run("[{{.Foo}}]", { A: 1 }, { missingKey: "zero" }).out, "[]");
  });

  it("can leave docker's functions out", () => {
    assert.equal(run("{{json .}}", 1, { dockerFuncs: false }).err, 'template: :1: function "json" not defined');
  });

  it("accepts extra functions, typed or plain", () => {
    const funcs = {
      add: { params: ["int", "int"] as ParamType[], fn: (a: number, b: number) => a + b },
      shout: (s: unknown) => `${String(s)}!`,
    };
    assert.equal(run("{{add 1 2}} {{shout .}} {{. | shout}}", "hi", { funcs }).out, "3 hi! hi!");
    assert.equal(run('{{add 1 "x"}}', "hi", { funcs }).err, 'template: :1:8: executing "" at <"x">: expected integer; found "x"');
    assert.equal(run("{{add 1}}", "hi", { funcs }).err, 'template: :1:2: executing "" at <add>: wrong number of args for add: want 2 got 1');
  });

  it("names, and executes a defined template by name", () => {
    const t = Template.parse('{{define "row"}}<{{.}}>{{end}}top');
    assert.deepEqual(t.names.sort(), ["", "row"]);
    assert.equal(t.execute("x", { template: "row" }), "<x>");
    assert.equal(t.execute("x"), "top");
  });

  it("replaces functions at execution time (docker's header functions)", () => {
    const t = Template.parse("{{upper .}}");
    assert.equal(t.execute("a"), "A");
    assert.equal(t.execute("a", { funcs: { upper: (s: unknown) => s } }), "a");
  });

  it("stops runaway recursion", () => {
    assert.equal(
      run('{{define "r"}}{{template "r" .}}{{end}}{{template "r" .}}', 1).err,
      `template: :1:25: executing "r" at <{{template "r" .}}>: exceeded maximum template depth (${MAX_EXEC_DEPTH})`,
    );
  });

  it("raises TemplateError, an InvalidArgument HakoError, with the phase", () => {
    try {
      Template.parse("{{.X");
      assert.fail("no error");
    } catch (err) {
      assert.ok(err instanceof TemplateError);
      assert.ok(HakoError.is(err));
      assert.equal(err.code, "ERR_INVALID_ARGUMENT");
      assert.equal(err.phase, "parse");
    }
  });
});

describe("template: docker's json function", () => {
  it("does not escape HTML but escapes U+2028 and control characters", () => {
    assert.equal(goJSON("<a&b>\u2028\u2029\u0001\t"), '"<a&b>\\u2028\\u2029\\u0001\\t"');
  });

  it("keeps object key order (struct fields) and sorts Map keys", () => {
    assert.equal(goJSON({ b: 1, a: [true, null] }), '{"b":1,"a":[true,null]}');
    assert.equal(goJSON(new Map([["b", 1], ["a", 2]])), '{"a":2,"b":1}');
  });

  it("gives an empty string where Go's encoder fails", () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    assert.equal(goJSON(Number.NaN), "");
    assert.equal(goJSON({ f: () => 1 }), "");
    assert.equal(goJSON(cyclic), "");
  });

  it("uses toJSON and omits undefined fields", () => {
    assert.equal(goJSON({ d: new Date(0), u: undefined }), '{"d":"1970-01-01T00:00:00.000Z"}');
  });
});

describe("template: fmt verbs", () => {
  it("rounds half to even on the exact binary value", () => {
    assert.equal(sprintf("%.0f %.0f %.0f %.1f %.2f %.2f", [0.5, 1.5, 2.5, 0.25, 1.005, 12.345]), "0 2 2 0.2 1.00 12.35");
  });

  it("formats shortest floats like Go's %v", () => {
    assert.equal(sprintf("%v %v %v %v %v", [0.1, 1e-7, 123456.5, 1234567.5, -0.000001]), "0.1 1e-07 123456.5 1.2345675e+06 -1e-06");
  });

  it("formats hexadecimal and binary floats", () => {
    assert.equal(sprintf("%x %X %b", [1.5, 0.1, 1.5]), "0x1.8p+00 0X1.999999999999AP-04 6755399441055744p-52");
  });

  it("pads with width in runes and handles flags", () => {
    assert.equal(sprintf("[%6s][%-6s][%06.2f][%+.1e][% d][%x]", ["héllo", "é", -1.5, 12345.0, 7, -1]), "[ héllo][é     ][-01.50][+1.2e+04][ 7][-1]");
  });

  it("reports bad verbs, missing and extra arguments in-band", () => {
    assert.equal(sprintf("%d %!", ["x"]), "%!d(string=x) %!!(MISSING)");
    assert.equal(sprintf("%s", ["a", 1, null]), "a%!(EXTRA int=1, <nil>)");
    assert.equal(sprintf("%[3]d", [1]), "%!d(BADINDEX)");
    assert.equal(sprintf("%", []), "%!(NOVERB)");
  });

  it("prints Go syntax with %#v", () => {
    assert.equal(sprintf("%#v %#v %#v", ["a", [1, "b"], { k: null }]), '"a" []interface {}{1, "b"} map[string]interface {}{"k":interface {}(nil)}');
  });
});

describe("template: tabwriter (expected output from Go's text/tabwriter)", () => {
  it("aligns columns with docker's settings (minwidth 10, padding 3)", () => {
    assert.equal(tabwrite("A\tB\tC\naaaaaaaaaaaa\tb\tc\n"), "A              B         C\naaaaaaaaaaaa   b         c\n");
    assert.equal(tabwrite("a\t\tc\nbbbbbbbbbbbbbb\t\tc\n"), "a                          c\nbbbbbbbbbbbbbb             c\n");
  });

  it("never pads the last cell of a line", () => {
    assert.equal(tabwrite("a\tlast   \nbb\tx\n"), "a         last   \nbb        x\n");
    assert.equal(tabwrite("a\tb\tc"), "a         b         c");
    assert.equal(tabwrite("x\t"), "x");
  });

  it("ends a column block at a line without that column", () => {
    assert.equal(tabwrite("a\tb\nplain\nlonger-than-ten\tc\n"), "a         b\nplain\nlonger-than-ten   c\n");
    assert.equal(tabwrite("CONTAINER ID\tNAMES\n\n"), "CONTAINER ID   NAMES\n\n");
  });

  it("pads an empty leading cell and treats formfeed as a flush", () => {
    assert.equal(tabwrite("\tx\nyy\tz\n"), "          x\nyy        z\n");
    assert.equal(tabwrite("a\tb\fcccccccccccc\td\n"), "a         b\ncccccccccccc   d\n");
  });

  it("supports tab padding, right alignment and the debug bars", () => {
    const base = { minwidth: 0, tabwidth: 8, padding: 1 };
    assert.equal(tabwrite("a\tb\nccc\td\n", { ...base, padchar: "\t" }), "a\tb\nccc\td\n");
    assert.equal(tabwrite("a\tb\nccc\td\n", { ...base, padchar: " ", alignRight: true }), "   ab\n cccd\n");
    assert.equal(tabwrite("a\tb\nccc\td\n", { ...base, padchar: " ", debug: true }), "a   |b\nccc |d\n");
  });

  it("measures wide characters in terminal columns, as docker's fork does", () => {
    assert.equal(displayWidth("世界é\u0301"), 5);
    assert.equal(tabwrite("世界\tx\nab\ty\n"), "世界      x\nab        y\n");
  });
});

describe("template: docker formatter conventions", () => {
  const rows = [
    { ID: "4f3c0f1d2e5a", Image: "nginx:1.25", Names: "web", Status: "Up 2 hours" },
    { ID: "9a8b7c6d5e4f", Image: "busybox", Names: "db", Status: "Exited (0) 5 minutes ago" },
  ];
  const headers = { ID: "CONTAINER ID", Image: "IMAGE", Names: "NAMES", Status: "STATUS" };

  it("renders `table {{.ID}}\\t{{.Names}}` with a header row", () => {
    assert.equal(
      renderTable("table {{.ID}}\\t{{.Names}}", rows, headers),
      "CONTAINER ID   NAMES\n4f3c0f1d2e5a   web\n9a8b7c6d5e4f   db\n",
    );
  });

  it("accepts real tabs and newlines as well as the \\t and \\n escapes", () => {
    assert.equal(renderTable("table {{.Names}}\t{{.Image}}", rows, headers), "NAMES     IMAGE\nweb       nginx:1.25\ndb        busybox\n");
    assert.equal(renderEach("{{.Names}}\\n--", rows), "web\n--\ndb\n--\n");
  });

  it("uses docker's header functions so headers stay intact", () => {
    assert.equal(
      renderTable('table {{upper .Names}}\\t{{truncate .ID 4}}\\t{{json .Image}}\\t{{pad .Status 1 1}}|', rows.slice(0, 1), headers),
      'NAMES     CONTAINER ID   IMAGE           STATUS |\nWEB       4f3c           "nginx:1.25"    Up 2 hours |\n',
    );
  });

  it("prints the header alone when there are no rows, and blanks for unknown headers", () => {
    assert.equal(renderTable("table {{.ID}}\\t{{.Size}}\\t{{.Names}}", [], headers), "CONTAINER ID             NAMES\n");
  });

  it("keeps the header row when the header template fails half-way", () => {
    assert.equal(renderTable("table {{.Names}}\\t{{.Names.X}}", [], headers), "NAMES     \n");
  });

  it("renders non-table formats once per row", () => {
    assert.equal(renderEach("{{.Names}}: {{.Status}}", rows), "web: Up 2 hours\ndb: Exited (0) 5 minutes ago\n");
    assert.equal(renderEach("{{.Names}}", []), "");
  });

  it("`json` prints each row as JSON with sorted keys, like docker ≥ 23", () => {
    const out = renderEach("json", [{ Names: "web", ID: "abc", Labels: "a=<b>" }]);
    assert.equal(out, '{"ID":"abc","Labels":"a=<b>","Names":"web"}\n');
    assert.equal(renderEach("{{json .}}", [{ b: 1, a: 2 }]), '{"a":2,"b":1}\n');
  });

  it("marshals class-instance rows from their exported getters and methods", () => {
    class Ctx {
      private readonly secret = "s";
      constructor(readonly ID: string) {}
      get Names(): string {
        return `n-${this.ID}-${this.secret}`;
      }
      Label(key: string): string {
        return key;
      }
      FullHeader(): unknown {
        return {};
      }
    }
    assert.equal(renderEach("json", [new Ctx("abc")]), '{"ID":"abc","Names":"n-abc-s"}\n');
    assert.equal(renderEach('{{.ID}} {{.Label "x"}}', [new Ctx("abc")]), "abc x\n");
  });

  it("prefixes errors with `template parsing error:` as docker does", () => {
    assert.throws(() => renderEach("{{.ID", rows), { message: "template parsing error: template: :1: unclosed action" });
    assert.throws(() => renderEach("{{foo .ID}}", rows), { message: 'template parsing error: template: :1: function "foo" not defined' });
    assert.throws(() => renderTable("table {{.ID.X}}", rows, headers), {
      message: 'template parsing error: template: :1:5: executing "" at <.ID.X>: can\'t evaluate field X in type string',
    });
    assert.throws(() => renderEach("{{.Nope}}", rows, { strictFields: true }), {
      message: 'template parsing error: template: :1:2: executing "" at <.Nope>: can\'t evaluate field Nope in type map[string]interface {}',
    });
  });

  it("trims spaces around the format and recognises table and json formats", () => {
    assert.equal(templateText("table  {{.ID}}\\t{{.Names}} "), "{{.ID}}\t{{.Names}}");
    assert.equal(templateText("json"), "{{json .}}");
    assert.equal(templateText(" json"), "json");
    assert.ok(isTableFormat("table"));
    assert.ok(!isTableFormat(" table"));
  });

  it("dispatches on the format and expands a bare `table` to the command's default", () => {
    const opts = { defaultTableFormat: "table {{.ID}}\\t{{.Names}}" };
    assert.equal(renderFormat("table", rows.slice(0, 1), headers, opts), "CONTAINER ID   NAMES\n4f3c0f1d2e5a   web\n");
    assert.equal(renderFormat("{{.Names}}", rows, headers), "web\ndb\n");
    assert.equal(renderFormat("table {{.Names}}", rows, headers), "NAMES\nweb\ndb\n");
  });
});
