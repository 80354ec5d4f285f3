"""The page shells of the report (jinja2 templates), its style sheet and its one small script.

The shells only place what :mod:`analysis.report.document` rendered: the table of contents,
the front matter (the answer) and the sections. Everything is inline (no CDN), so a page
opens offline as one file.
"""

from __future__ import annotations

from functools import cache

import jinja2

MARKDOWN = """\
# {{ title }}

{% if subtitle %}{{ subtitle }}

{% endif %}**Contents:** {{ toc }}

<a id="{{ front_id }}"></a>

{{ front }}
{% for section in sections %}
<a id="{{ section.id }}"></a>

## {{ section.title }}

{{ section.body }}
{% endfor %}
{{ footer }}
"""

PAGE = """\
<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>{{ style | safe }}</style></head>
<body>
<nav id="toc" aria-label="Contents"><p class="toc-title">Contents</p><ol>
{% for item in toc %}<li><a href="#{{ item.id }}">{{ item.title }}</a></li>
{% endfor %}</ol></nav>
<main>
<header id="{{ front_id }}"><h1>{{ heading | safe }}</h1>
{% if subtitle %}<p class="sub">{{ subtitle | safe }}</p>{% endif %}
{{ front | safe }}</header>
{% for section in sections %}<section id="{{ section.id }}"><h2>{{ section.title | safe }}</h2>
{{ section.body | safe }}</section>
{% endfor %}{{ footer | safe }}
</main>
<script>{{ script | safe }}</script>
</body></html>
"""

PAGE_STYLE = """
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;color:#222;margin:0;line-height:1.45;font-size:15px}
main{max-width:1000px;margin:0 auto;padding:0 1.2em 4em}
nav#toc{font-size:.85em;padding:.6em 1.2em;border-bottom:1px solid #e4e4e4;background:#fafafa}
nav#toc ol{margin:.2em 0;padding-left:1.4em;columns:2}
nav#toc .toc-title{font-weight:600;margin:.2em 0}
@media (min-width:1240px){
  nav#toc{position:fixed;top:0;left:0;width:220px;height:100vh;overflow:auto;border-right:1px solid #e4e4e4;
          border-bottom:0}
  nav#toc ol{columns:1}
  main{margin-left:240px;margin-right:auto}
}
h1{font-size:1.55em;margin:.5em 0 .1em}
h2{font-size:1.3em;margin:1.6em 0 .4em;padding-top:.4em;border-top:1px solid #e4e4e4}
h3{font-size:1.1em;margin:1.2em 0 .3em}
h4{font-size:1em;margin:1em 0 .3em}
p{margin:.45em 0}
.sub{color:#666;margin:0 0 .5em;font-size:.9em}
p.lead{font-size:1.02em;margin:.4em 0 .6em}
p.warning{border-left:4px solid #c0392b;background:#fdf2f0;padding:.4em .9em;font-weight:600}
p.note{color:#555;font-size:.9em}
ul{margin:.3em 0;padding-left:1.4em}
li{margin:.25em 0}
ul.findings li{margin:.35em 0}
.scroll{overflow-x:auto;max-width:100%}
table.t{border-collapse:collapse;font-size:.82em;margin:.4em 0}
table.t caption{caption-side:top;text-align:left;color:#444;padding:.2em 0;font-size:1.05em}
table.t td,table.t th{padding:.18em .5em;border-bottom:1px solid #e2e2e2;text-align:left;vertical-align:top}
table.t th{background:#f4f4f4;font-weight:600}
table.t th.group{text-align:center;border-bottom:2px solid #bbb}
table.t td[data-v]{text-align:right;font-variant-numeric:tabular-nums}
table.sortable th{cursor:pointer}
table.sortable th:after{content:" \\2195";color:#aaa;font-size:.8em}
input.filter{font:inherit;font-size:.85em;padding:.2em .5em;margin:.3em 0;width:18em;border:1px solid #ccc;
             border-radius:3px}
figure{margin:.8em 0}
figure img{max-width:100%;height:auto;display:block}
figure.hero img{max-height:75vh;width:auto;cursor:zoom-in}
figure.hero.zoomed img{max-height:none;cursor:zoom-out}
figcaption{color:#555;font-size:.86em;max-width:900px}
details{margin:.4em 0}
details>summary{cursor:pointer;color:#1a5490}
#verdicts td,#verdicts th{padding:.05em .5em;line-height:1.3}
#verdicts caption{font-size:.9em;line-height:1.35}
#verdicts td.claim{white-space:nowrap}
#verdicts td:not(.claim){text-align:center;min-width:3.2em}
td.agrees:not(:empty){background:#e3f4ea;font-weight:600}
td.differs:not(:empty){background:#fbe3e1;font-weight:600}
td.mixed:not(:empty){background:#fdf0dc}
td.vacuous:not(:empty),td.untestable:not(:empty),td.inconclusive:not(:empty){color:#555}
code{font-size:.9em;background:#f3f3f3;padding:0 .2em;border-radius:2px}
a{color:#1a5490}
"""

PAGE_SCRIPT = """
(function(){
  function key(cell){var v=cell.getAttribute('data-v');return v===null?cell.textContent.trim().toLowerCase():parseFloat(v);}
  document.querySelectorAll('table.sortable').forEach(function(table){
    var heads=table.tHead.rows[table.tHead.rows.length-1].cells;
    Array.prototype.forEach.call(heads,function(th,col){
      th.addEventListener('click',function(){
        var body=table.tBodies[0],rows=Array.prototype.slice.call(body.rows);
        var up=th.getAttribute('data-order')!=='up';
        Array.prototype.forEach.call(heads,function(h){h.removeAttribute('data-order');});
        th.setAttribute('data-order',up?'up':'down');
        rows.sort(function(a,b){var x=key(a.cells[col]),y=key(b.cells[col]);
          if(typeof x!==typeof y){x=String(x);y=String(y);}return (x<y?-1:x>y?1:0)*(up?1:-1);});
        rows.forEach(function(r){body.appendChild(r);});
      });
    });
  });
  document.querySelectorAll('div.filtered').forEach(function(box){
    var input=box.querySelector('input.filter'),rows=box.querySelector('tbody').rows;
    input.addEventListener('input',function(){
      var terms=input.value.toLowerCase().split(/\\s+/).filter(Boolean);
      Array.prototype.forEach.call(rows,function(r){var t=r.textContent.toLowerCase();
        r.style.display=terms.every(function(w){return t.indexOf(w)>=0;})?'':'none';});
    });
  });
  document.querySelectorAll('figure.hero img').forEach(function(img){
    img.addEventListener('click',function(){img.parentNode.classList.toggle('zoomed');});
  });
})();
"""


@cache
def _environment(autoescape: bool) -> jinja2.Environment:
    return jinja2.Environment(autoescape=autoescape, keep_trailing_newline=True, undefined=jinja2.StrictUndefined)


def markdown_template() -> jinja2.Template:
    return _environment(False).from_string(MARKDOWN)


def page_template() -> jinja2.Template:
    return _environment(True).from_string(PAGE)


EXAMPLES_PAGE = """\
<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>{{ style | safe }}</style></head>
<body><main>
<h1>{{ title }}</h1>
<p class="sub">{{ intro }}{% if summary_link %} <a href="{{ summary_link }}">Back to the summary.</a>{% endif %}</p>
{% for note in notes %}<p class="note">{{ note }}</p>{% endfor %}
<p class="note" id="data-note"></p>
<div class="controls">
<label>dataset <select id="dataset"></select></label>
<label>model <select id="model"></select></label>
<label>seed <select id="seed"></select></label>
<label>example <select id="example"></select></label>
</div>
<div class="legend"><span class="neg">negative</span><span class="zero">0</span><span class="pos">positive</span>
 score, as a share of the method's largest |score| on the example; hover a word for its value.</div>
<p id="outcome"></p>
<div id="view"></div>
</main>
<script type="application/json" id="data">{{ data | safe }}</script>
<script>{{ script | safe }}</script>
</body></html>
"""

EXAMPLES_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;color:#222;margin:0;font-size:15px}
main{max-width:1100px;margin:0 auto;padding:0 1.2em 3em}
h1{font-size:1.4em;margin:.6em 0 .2em}
.sub{color:#555;font-size:.9em}.note{color:#8a4b00;font-size:.9em}
.controls{display:flex;flex-wrap:wrap;gap:.8em;margin:.8em 0;font-size:.9em}
select{font:inherit;max-width:22em}
.legend{font-size:.82em;color:#555;margin:.3em 0 .8em}
.legend span{display:inline-block;padding:0 .5em;margin-right:.2em;border-radius:2px}
.legend .neg{background:rgba(33,102,172,.75);color:#fff}.legend .zero{background:#f3f3f3}
.legend .pos{background:rgba(178,24,43,.75);color:#fff}
#outcome{font-weight:600}
.row{display:grid;grid-template-columns:15em 1fr;gap:.8em;padding:.35em 0;border-bottom:1px solid #eee}
.m{font-size:.85em}.m small{display:block;color:#777}
.w{line-height:1.9}
.w span{padding:.1em .15em;border-radius:2px;margin-right:.12em}
.w span.known{box-shadow:inset 0 -3px 0 #111;font-weight:600}
"""

EXAMPLES_SCRIPT = """
(function(){
  var D=JSON.parse(document.getElementById('data').textContent);
  document.getElementById('data-note').textContent=D.published||'';
  var sel={dataset:document.getElementById('dataset'),model:document.getElementById('model'),
           seed:document.getElementById('seed'),example:document.getElementById('example')};
  function fill(s,values){s.innerHTML='';values.forEach(function(v){var o=document.createElement('option');
    o.value=v[0];o.textContent=v[1];s.appendChild(o);});}
  function uniq(a){return a.filter(function(v,i){return a.indexOf(v)===i;});}
  function runs(){return D.runs.filter(function(r){return r.dataset===sel.dataset.value;});}
  function run(){return D.runs.filter(function(r){return r.dataset===sel.dataset.value&&r.model===sel.model.value&&
    String(r.seed)===sel.seed.value;})[0];}
  function colour(q,signed){var a=Math.min(1,Math.abs(q)/999)*0.85;
    return q>=0?'rgba(178,24,43,'+a+')':'rgba(33,102,172,'+a+')';}
  function show(){
    var r=run(),view=document.getElementById('view'),out=document.getElementById('outcome');view.innerHTML='';
    if(!r){out.textContent='';return;}
    var e=r.examples[Number(sel.example.value)||0];if(!e){out.textContent='';return;}
    var words=D.texts[r.dataset][e.id];
    var name=function(i){return r.labels[i]!==undefined?r.labels[i]+' ('+i+')':String(i);};
    var known=e.known||[],kind=D.known[r.dataset];
    out.textContent='Predicted: '+name(e.predicted)+' \\u00b7 label: '+name(e.label)+
      (e.predicted===e.label?' (correct)':' (wrong)')+' \\u00b7 '+e.n+' words'+
      (e.n>words.length?' (first '+words.length+' shown)':'')+
      (known.length?' \\u00b7 underlined: '+kind:'')+
      (e.in_data===undefined?'':e.in_data?' \\u00b7 in the published data':' \\u00b7 not in the published data');
    D.order.forEach(function(m){
      if(!e.scores[m])return;var s=e.scores[m],info=D.methods[m];
      var row=document.createElement('div');row.className='row';
      var label=document.createElement('div');label.className='m';label.textContent=info[0];
      var fam=document.createElement('small');fam.textContent=info[1]+(info[2]?', signed':', unsigned')+
        ' \\u00b7 max |score| '+Number(s[0]).toPrecision(3);label.appendChild(fam);row.appendChild(label);
      var text=document.createElement('div');text.className='w';
      words.forEach(function(w,i){var q=s[1][i];var span=document.createElement('span');span.textContent=w;
        if(q===null||q===undefined){span.title=w+': not scored';}else{
          span.style.background=colour(q,info[2]);if(Math.abs(q)>600)span.style.color='#fff';
          span.title=w+': '+Number(s[2][i]).toPrecision(3);}
        if(known.indexOf(i)>=0){span.className='known';span.title+=' ('+kind+')';}
        text.appendChild(span);text.appendChild(document.createTextNode(' '));});
      row.appendChild(text);view.appendChild(row);});
  }
  function examples(){var r=run();fill(sel.example,(r?r.examples:[]).map(function(e,i){
    return [i,e.id+(e.predicted===e.label?'':' (wrong)')];}));show();}
  function seeds(){fill(sel.seed,uniq(runs().filter(function(r){return r.model===sel.model.value;})
    .map(function(r){return String(r.seed);})).map(function(v){return [v,v];}));examples();}
  function models(){fill(sel.model,uniq(runs().map(function(r){return r.model;})).map(function(v){return [v,v];}));
    seeds();}
  fill(sel.dataset,uniq(D.runs.map(function(r){return r.dataset;})).map(function(v){return [v,v];}));
  sel.dataset.onchange=models;sel.model.onchange=seeds;sel.seed.onchange=examples;sel.example.onchange=show;
  models();
})();
"""


def examples_template() -> jinja2.Template:
    return _environment(True).from_string(EXAMPLES_PAGE)
