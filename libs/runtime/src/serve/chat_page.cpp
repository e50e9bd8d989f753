// GET /: a single-file chat page. Streams /v1/chat/completions with fetch() and parses the
// server-sent events by hand (no EventSource for POST, no CDN).
#include "serve/api_routes.h"

namespace realizar::serve {

const std::string& ChatPageHtml() {
  static const std::string kPage = R"HTML(<!doctype html>
<html><head><meta charset="utf-8"><title>apr chat</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:system-ui,sans-serif;max-width:760px;margin:0 auto;padding:1em;background:#fafafa}
#log{white-space:pre-wrap}.m{margin:.6em 0;padding:.6em .8em;border-radius:8px}
.user{background:#e3ecff}.assistant{background:#fff;border:1px solid #ddd}
form{display:flex;gap:.5em;margin-top:1em}textarea{flex:1;height:4em}
#key{width:12em}small{color:#777}
</style></head><body>
<h2>apr chat</h2><small id="model"></small>
<div id="log"></div>
<form id="f"><textarea id="in" placeholder="Say something (Enter to send)"></textarea>
<div><button>Send</button><br><input id="key" placeholder="API key (optional)"></div></form>
<script>
const log=document.getElementById('log'),input=document.getElementById('in');
const history=[];
fetch('/v1/models').then(r=>r.json()).then(j=>{if(j.data)document.getElementById('model').textContent='model: '+j.data[0].id}).catch(()=>{});
function add(role,text){const d=document.createElement('div');d.className='m '+role;d.textContent=text;log.appendChild(d);return d;}
input.addEventListener('keydown',e=>{if(e.key==='Enter'&&!e.shiftKey){e.preventDefault();document.getElementById('f').requestSubmit();}});
document.getElementById('f').addEventListener('submit',async e=>{
  e.preventDefault();const text=input.value.trim();if(!text)return;input.value='';
  history.push({role:'user',content:text});add('user',text);const out=add('assistant','');
  const headers={'Content-Type':'application/json'};const key=document.getElementById('key').value;
  if(key)headers['Authorization']='Bearer '+key;
  let reply='';
  try{
    const res=await fetch('/v1/chat/completions',{method:'POST',headers,body:JSON.stringify({messages:history,stream:true})});
    if(!res.ok){const j=await res.json();out.textContent='error: '+j.error.message;history.pop();return;}
    const reader=res.body.getReader();const dec=new TextDecoder();let buf='';
    for(;;){const {value,done}=await reader.read();if(done)break;buf+=dec.decode(value,{stream:true});
      let i;while((i=buf.indexOf('\n\n'))>=0){const ev=buf.slice(0,i);buf=buf.slice(i+2);
        for(const line of ev.split('\n')){if(!line.startsWith('data: '))continue;const data=line.slice(6);
          if(data==='[DONE]')continue;const j=JSON.parse(data);
          if(j.error){out.textContent+='\n[error: '+j.error.message+']';continue;}
          if(j.choices&&j.choices[0]&&j.choices[0].delta&&j.choices[0].delta.content){reply+=j.choices[0].delta.content;out.textContent=reply;}}}}
    history.push({role:'assistant',content:reply});
  }catch(err){out.textContent='error: '+err;}
  finally{out.dataset.done='1';}
});
</script></body></html>
)HTML";
  return kPage;
}

}  // namespace realizar::serve
