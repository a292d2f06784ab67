// What the upload page (/) and the live page (/live) share: the top guesses as rows with bars, and the size of the
// image the model saw (28x28 grey for a cut-out model, the model's own size in colour for the photo tier).
"use strict";
const $ = (id) => document.getElementById(id);

function row(entry) {
  const li = document.createElement("li");
  li.dataset.label = entry.label;
  const pct = Math.round((entry.score || 0) * 100);
  li.innerHTML = '<div class="row"><span class="name"></span><span class="pct"></span></div>' +
                 '<div class="bar"><div></div></div>';
  li.querySelector(".name").textContent = entry.label;
  li.querySelector(".pct").textContent = pct + "%";
  li.querySelector(".bar > div").style.width = pct + "%";
  return li;
}

$("seen").addEventListener("load", (e) => {
  $("seen-size").textContent = "what the model saw (" + e.target.naturalWidth + "×" + e.target.naturalHeight + ")";
});
