export default function ImportsList() {
  return <h1>ImportsList</h1>;
}
