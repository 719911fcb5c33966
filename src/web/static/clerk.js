// clerk's console works without script; this only adds "select all" to the exception queue.
document.addEventListener("DOMContentLoaded", function () {
  var all = document.getElementById("select-all");
  if (!all) return;
  all.addEventListener("change", function () {
    document.querySelectorAll("input[name=break]").forEach(function (box) { box.checked = all.checked; });
  });
});
